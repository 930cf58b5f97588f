package fields

import (
	"bufio"
	"github.com/truesightsec/truesight/internal/testenv"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// The stable rules must find every field they use, with a compatible type.
func TestStableRulesFieldsAreRegistered(t *testing.T) {
	f, err := os.Open(filepath.Join(testenv.ConformanceDir(t), "falco", "stable-rules-fields.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]Type{
		"FTYPE_STRING": String, "PT_CHARBUF": String, "FTYPE_BOOL": Bool, "PT_BOOL": Bool,
		"FTYPE_ABSTIME": AbsTime, "PT_ABSTIME": AbsTime, "PT_UINT64": Uint64, "PT_UINT32": Uint64,
		"PT_INT64": Int64, "PT_IPADDR": IPAddr, "PT_IPNET": IPNet, "PT_PORT": Port, "PT_RELTIME": RelTime,
	}
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	n := 0
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		b, err := Resolve(cols[0])
		if err != nil {
			t.Errorf("%s: %v", cols[0], err)
			continue
		}
		n++
		wt, ok := want[cols[3]]
		if !ok {
			t.Errorf("%s: unmapped type %s", cols[0], cols[3])
			continue
		}
		// Falco types proc.exe_ino.ctime_duration_* as absolute times.
		if b.Field.Type != wt {
			t.Errorf("%s: type %s, want %s (%s)", cols[0], b.Field.Type, wt, cols[3])
		}
	}
	if n != 71 {
		t.Errorf("resolved %d stable fields, want 71", n)
	}
}

func TestSplitLongestPrefix(t *testing.T) {
	cases := []struct{ raw, field, arg string }{
		{"evt.arg.flags", "evt.arg", "flags"},
		{"evt.arg[flags]", "evt.arg", "flags"},
		{"proc.aname[2]", "proc.aname", "2"},
		{"k8s.pod.label.app", "k8s.pod.label", "app"},
		{"k8s.pod.label[app.kubernetes.io/name]", "k8s.pod.label", "app.kubernetes.io/name"},
		{"container.image.repository", "container.image.repository", ""},
		{"proc.env[LD_PRELOAD]", "proc.env", "LD_PRELOAD"},
	}
	for _, c := range cases {
		f, arg, _, err := Split(c.raw)
		if err != nil {
			t.Errorf("%s: %v", c.raw, err)
			continue
		}
		if f.Name != c.field || arg != c.arg {
			t.Errorf("%s: got %s [%s], want %s [%s]", c.raw, f.Name, arg, c.field, c.arg)
		}
	}
	for _, bad := range []string{"proc.nope", "proc.aname[x]", "proc.name[1]", "evt.arg", "foo"} {
		if _, err := Resolve(bad); err == nil {
			t.Errorf("%s: resolved, want an error", bad)
		}
	}
}

func TestDirOfIsPathDir(t *testing.T) {
	for _, p := range []string{"/", "/etc", "/etc/passwd", "/a/b/c", "/etc/", "/etc//x", "/etc/./x", "/etc/../x", "/.x/y", "x", "x/y", "", "/a/.b", "//x"} {
		if got, want := dirOf(p), path.Dir(p); got != want {
			t.Errorf("dirOf(%q) = %q, path.Dir gives %q", p, got, want)
		}
	}
}
