// Command replaybench replays a capture through Falco's stable rules and
// truesight's defaults and reports the throughput and, with -cpuprofile, a
// CPU profile of the replay alone; scripts/bench-replay.sh uses it to print
// the compiled condition sysdig is given.
//
//	go run ./internal/replay/testdata/replaybench -rules falco_rules.yaml FILE
//	go run ./internal/replay/testdata/replaybench -rules falco_rules.yaml -condition 'Modify ld.so.preload'
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"runtime/pprof"
	"time"

	"github.com/truesightsec/truesight/internal/engine"
	"github.com/truesightsec/truesight/internal/output"
	"github.com/truesightsec/truesight/internal/replay"
	"github.com/truesightsec/truesight/internal/rules"
	"github.com/truesightsec/truesight/internal/ruleset"
)

func main() {
	var files multi
	flag.Var(&files, "rules", "rules file to load before truesight's defaults (repeatable)")
	cond := flag.String("condition", "", "print the compiled condition of this rule and exit")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the replay to this file")
	flag.Parse()
	var srcs []rules.Source
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			log.Fatal(err)
		}
		srcs = append(srcs, rules.Source{Name: f, Data: data})
	}
	srcs = append(srcs, rules.Source{Name: ruleset.DefaultName, Data: ruleset.Default})
	eng, _, diags := engine.Load(srcs, engine.Options{})
	if eng == nil {
		log.Fatalf("rules: %v", diags)
	}
	if *cond != "" {
		for _, r := range eng.Rules() {
			if r.Name == *cond {
				fmt.Println(r.Condition)
				return
			}
		}
		log.Fatalf("no rule %q", *cond)
	}
	if flag.NArg() != 1 {
		log.Fatal("usage: replaybench [-rules FILE]... CAPTURE")
	}
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	alerts := 0
	st, err := replay.File(flag.Arg(0), eng, replay.Options{}, func(*output.Alert) { alerts++ })
	d := time.Since(start)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d events (%d blocks) in %v: %.0f events/s, %d rules, %d alerts\n",
		st.Reader.Events, st.Reader.Blocks, d.Round(time.Millisecond), float64(st.Reader.Events)/d.Seconds(), len(eng.Rules()), alerts)
}

type multi []string

func (m *multi) String() string     { return fmt.Sprint(*m) }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }
