package sensor

import (
	"context"
	"fmt"
	"os/exec"
	"testing"
	"time"
)

func TestZZSmoke(t *testing.T) {
	s, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cmd := exec.Command("/bin/sh", "-c", "cat /etc/hostname > /tmp/zzsmoke; cat /nonexistent; cd /tmp && cat ../etc/hostname")
	cmd.Run()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var r Record
	n := 0
	for {
		if err := s.Read(ctx, &r); err != nil {
			t.Log(err)
			break
		}
		n++
		if r.Kind == KindSyscall {
			sc := &r.Syscall
			if sc.Task.Comm != "cat" && sc.Task.Comm != "sh" {
				continue
			}
			t.Logf("%s tid=%d %s ret=%d path=%q file=%+v dir0=%q cwd=%q", sc.Task.Comm, r.Tid, sc.Name(), sc.Ret, sc.Path, sc.File, sc.Dir[0].Path, sc.Cwd.Path)
		} else {
			p := &r.Process
			if p.Comm != "cat" && p.Comm != "sh" {
				continue
			}
			t.Logf("%s %s", r.Kind, fmt.Sprintf("%+v", *p))
		}
	}
	st, _ := s.Stats()
	t.Logf("records %d stats %+v", n, st.CPUStats)
}
