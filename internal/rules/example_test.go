package rules_test

import (
	"fmt"

	"github.com/truesightsec/truesight/internal/rules"
)

func ExampleLoad() {
	yaml := `
- list: shells
  items: [bash, sh]
- macro: spawned_process
  condition: evt.type in (execve, execveat)
- macro: user_known_shell
  condition: (evt.num = 0)
- macro: unused
  condition: proc.name = x
- rule: Shell spawned
  desc: a shell was started
  condition: spawned_process and proc.name in (shells) and not user_known_shell
  output: shell started (user=%user.name)
  priority: warning
`
	rs, diags := rules.Load([]rules.Source{{Name: "rules.yaml", Data: []byte(yaml)}}, rules.Options{})
	fmt.Print(diags)
	if rs == nil {
		return
	}
	r := rs.Rules[0]
	fmt.Println(r.Priority, r.EventTypes)
	fmt.Println(r.ConditionText)
	// Output:
	// rules.yaml:8:3: warning: macro "unused": macro not referred to by any rule or macro
	// Warning [execve execveat]
	// (evt.type in (execve, execveat) and proc.name in (bash, sh) and not evt.num = 0)
}
