package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/truesightsec/truesight/internal/testenv"
)

// `truesight replay` takes the configuration as `truesight run` does:
// priority, json_output and json_include_* from -c/-o, flags on top.
func TestReplayFollowsTheConfiguration(t *testing.T) {
	capture := filepath.Join(testenv.ConformanceDir(t), "scap", "falco_write_tmp_test.scap")
	rulesFile := filepath.Join(t.TempDir(), "tmp.yaml")
	rule := "- rule: Write below tmp\n  desc: d\n  condition: evt.type in (open, openat) and evt.is_open_write=true and fd.name startswith /tmp/\n" +
		"  output: tmp write (file=%fd.name)\n  priority: WARNING\n"
	if err := os.WriteFile(rulesFile, []byte(rule), 0o600); err != nil {
		t.Fatal(err)
	}
	replay := func(args ...string) (int, string) {
		var stdout, stderr bytes.Buffer
		code := Main(append([]string{"replay", capture, "-q", "--no-default-rules", "-r", rulesFile}, args...), &stdout, &stderr)
		if code == 2 {
			t.Fatalf("%q: exit 2: %s", args, stderr.String())
		}
		return code, stdout.String()
	}

	code, out := replay("-o", "json_output=true", "-o", "json_include_message_property=true", "-o", "json_include_output_property=false")
	var a map[string]any
	if err := json.Unmarshal([]byte(out), &a); code != 1 || err != nil {
		t.Fatalf("exit %d, %v: %s", code, err, out)
	}
	if a["message"] != "tmp write (file=/tmp/test)" || a["output"] != nil || a["rule"] != "Write below tmp" {
		t.Errorf("json alert %s", out)
	}

	// The time is local: only its form is checked.
	if code, out := replay("-o", "json_output=true", "--format", "text", "--iso8601"); code != 1 ||
		!strings.HasPrefix(out, "2019-07-") || !strings.Contains(out, ".575387852") || !strings.HasSuffix(out, ": Warning tmp write (file=/tmp/test)\n") {
		t.Errorf("--format text over json_output: exit %d, %q", code, out)
	}
	if code, out := replay("-o", "priority=error"); code != 0 || out != "" {
		t.Errorf("priority=error drops the Warning rule: exit %d, %q", code, out)
	}
	if code, out := replay("-o", "append_output=[{extra_output: \"on %evt.hostname\"}]"); code != 1 || !strings.HasSuffix(out, "tmp write (file=/tmp/test) on ubuntu\n") {
		t.Errorf("append_output: exit %d, %q", code, out)
	}
}
