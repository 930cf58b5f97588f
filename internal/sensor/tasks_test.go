package sensor

import (
	"os"
	"os/exec"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/cilium/ebpf"
)

// TestTasksSnapshotEqualsTheSensors: the iterator loaded alone lists a
// process with exactly the details the whole sensor's snapshot gives it.
func TestTasksSnapshotEqualsTheSensors(t *testing.T) {
	r := openSensor(t, Options{})
	tasks, err := OpenTasks("")
	if err != nil {
		t.Fatalf("OpenTasks: %v", err)
	}
	t.Cleanup(func() { tasks.Close() })

	dir := tempDir(t)
	sleep := exec.Command("/bin/sleep", "30")
	sleep.Dir = dir
	sleep.Env = append(os.Environ(), "TS_TASKS_MARK=1")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sleep.Process.Kill()
		sleep.Wait()
	})
	r.wait(t, "exec of sleep", func(rec *Record) bool { return rec.Kind == KindExec && rec.Tgid == uint32(sleep.Process.Pid) })

	find := func(procs []ProcessInfo, pid int) ProcessInfo {
		t.Helper()
		for _, p := range procs {
			if p.Tgid == uint32(pid) {
				return p
			}
		}
		t.Fatalf("pid %d not in a snapshot of %d processes", pid, len(procs))
		return ProcessInfo{}
	}
	whole, err := r.s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	alone, err := tasks.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	want, got := find(whole, sleep.Process.Pid), find(alone, sleep.Process.Pid)
	// The boot offsets of the two are measured apart: start times agree to
	// the measurement's jitter, not to the nanosecond.
	tolerance := int64(time.Millisecond)
	for _, pair := range [][2]*int64{{&want.StartTime, &got.StartTime}, {&want.ParentStartTime, &got.ParentStartTime}, {&want.PidNSInitStart, &got.PidNSInitStart}} {
		d := *pair[0] - *pair[1]
		if d < 0 {
			d = -d
		}
		if d > tolerance {
			t.Errorf("start times %d and %d differ by more than %v", *pair[0], *pair[1], time.Duration(tolerance))
		}
		*pair[1] = *pair[0]
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Tasks.Snapshot:\n%+v\nSensor.Snapshot:\n%+v", got, want)
	}
	if !slices.Equal(got.Args, []string{"/bin/sleep", "30"}) || got.Cwd.Path != dir || !slices.Contains(got.Env, "TS_TASKS_MARK=1") {
		t.Errorf("sleep: Args %q Cwd %q Env has marker %v", got.Args, got.Cwd.Path, slices.Contains(got.Env, "TS_TASKS_MARK=1"))
	}
}

// TestTasksUsesOnlyScratchMaps: the iterator alone brings none of the
// tracing side: its program uses its scratch buffers and constants, no ring
// buffer and no syscall table (those would be created for nothing).
func TestTasksUsesOnlyScratchMaps(t *testing.T) {
	requireKernel(t)
	tasks, err := OpenTasks("")
	if err != nil {
		t.Fatalf("OpenTasks: %v", err)
	}
	defer tasks.Close()
	info, err := tasks.prog.Info()
	if err != nil {
		t.Fatal(err)
	}
	ids, ok := info.MapIDs()
	if !ok {
		t.Skip("this kernel does not list a program's maps")
	}
	var names []string
	for _, id := range ids {
		m, err := ebpf.NewMapFromID(id)
		if err != nil {
			t.Fatal(err)
		}
		mi, err := m.Info()
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		if mi.Type == ebpf.RingBuf {
			t.Errorf("map %q is a ring buffer", mi.Name)
		}
		names = append(names, mi.Name)
	}
	slices.Sort(names)
	if want := []string{".rodata", "ebufs", "ibuf"}; !slices.Equal(names, want) {
		t.Errorf("the iterator uses maps %q, want %q", names, want)
	}
	if err := tasks.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := tasks.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := tasks.Snapshot(); err == nil {
		t.Error("Snapshot after Close succeeded")
	}
}
