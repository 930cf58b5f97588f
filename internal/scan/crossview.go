package scan

import (
	"fmt"
	"strings"

	"github.com/truesightsec/truesight/internal/sensor"
)

// KernelView lists the kernel's thread-group leaders through eBPF (the
// task iterator). *sensor.Sensor implements it.
type KernelView interface {
	Snapshot() ([]sensor.ProcessInfo, error)
}

// BlindSpot excuses one process that a platform is known to keep out of
// the kernel view: on truesight's test VMs, PID 1 (the VM's supervisor) is
// listed in /proc but absent from every BPF task view. The excuse is
// narrow: it applies only to a process with exactly this PID and comm in
// the scanner's own PID namespace, only to its absence from the kernel
// view, and it is reported; any other disagreement about it is still a
// finding.
type BlindSpot struct {
	PID  int
	Comm string
}

// ParseBlindSpot reads "PID:COMM", e.g. "1:process_api".
func ParseBlindSpot(s string) (BlindSpot, error) {
	pid, comm, ok := strings.Cut(s, ":")
	var b BlindSpot
	if _, err := fmt.Sscanf(pid, "%d", &b.PID); !ok || err != nil || b.PID <= 0 || comm == "" {
		return b, fmt.Errorf("kernel blind spot %q: want PID:COMM, e.g. 1:process_api", s)
	}
	b.Comm = comm
	return b, nil
}

func (b BlindSpot) String() string { return fmt.Sprintf("%d:%s", b.PID, b.Comm) }

// views are the membership of one PID in the kernel-side views.
type views struct {
	Kernel, Procfs, Probe bool
}

func (v views) text(withKernel bool) string {
	var seen, missing []string
	add := func(name string, in bool) {
		if in {
			seen = append(seen, name)
		} else {
			missing = append(missing, name)
		}
	}
	if withKernel {
		add("kernel", v.Kernel)
	}
	add("procfs", v.Procfs)
	add("probe", v.Probe)
	return fmt.Sprintf("seen by %s; missing from %s", strings.Join(seen, ","), strings.Join(missing, ","))
}

// kernelSet is one kernel snapshot: tgid -> start ticks.
type kernelSet map[int]kernelTask

type kernelTask struct {
	StartTicks uint64
	Comm       string
	Cgroup     string
}

func (s *Scanner) kernelSnapshot() (kernelSet, error) {
	tasks, err := s.opts.Kernel.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("kernel view: %w", err)
	}
	ks := make(kernelSet, len(tasks))
	for i := range tasks {
		t := &tasks[i]
		if t.Tid != t.Tgid {
			continue
		}
		ks[int(t.Tgid)] = kernelTask{StartTicks: t.StartBootNS / (1e9 / clockTicks), Comm: t.Comm, Cgroup: t.Cgroup}
	}
	return ks, nil
}

// crossCandidate is a PID the views disagreed about in the first pass.
type crossCandidate struct {
	Pid   int
	Start uint64
	Comm  string
	In    views
}

// viewPass is one look at the three kernel-side views.
type viewPass struct {
	kernel kernelSet // nil without a kernel view
	procfs *pidSet
	probe  *pidSet
}

func (vp *viewPass) of(pid int) views {
	v := views{Procfs: vp.procfs.has(pid), Probe: vp.probe.has(pid)}
	if vp.kernel != nil {
		_, v.Kernel = vp.kernel[pid]
	} else {
		v.Kernel = true // absent view: never a disagreement
	}
	return v
}

// crossCandidates lists every PID some view has and another lacks.
func (s *Scanner) crossCandidates(vp *viewPass, pidMax int) []crossCandidate {
	var out []crossCandidate
	consider := func(pid int) {
		v := vp.of(pid)
		if v.Kernel && v.Procfs && v.Probe {
			return
		}
		c := crossCandidate{Pid: pid, In: v}
		if st, ok := statOf(s.procfd, pid); ok {
			c.Start, c.Comm = st.StartTicks, st.Comm
		} else if kt, ok := vp.kernel[pid]; ok {
			c.Start, c.Comm = kt.StartTicks, kt.Comm
		}
		out = append(out, c)
	}
	seen := newPidSet(pidMax)
	visit := func(pid int) {
		if !seen.has(pid) {
			seen.add(pid)
			consider(pid)
		}
	}
	vp.procfs.each(visit)
	vp.probe.each(visit)
	for pid := range vp.kernel {
		visit(pid)
	}
	return out
}

// confirmCross looks again at each candidate: a disagreement is confirmed
// when the same process (same start time) was alive before and after a
// fresh look at every view and the views disagree the same way. A process
// that started or exited during the first pass shows up as a candidate
// but not again.
func (s *Scanner) confirmCross(cands []crossCandidate, pidMax int) ([]crossCandidate, error) {
	before := make([]uint64, len(cands))
	for i, c := range cands {
		before[i], _ = s.identity(c.Pid, nil)
	}
	var vp viewPass
	if s.opts.Kernel != nil {
		ks, err := s.kernelSnapshot()
		if err != nil {
			return nil, err
		}
		vp.kernel = ks
	}
	vp.procfs = newPidSet(pidMax)
	if err := listPids(s.procfd, s.dentBuf, vp.procfs.add); err != nil {
		return nil, err
	}
	vp.probe = newPidSet(pidMax)
	for _, c := range cands {
		if probeLeader(c.Pid) {
			vp.probe.add(c.Pid)
		}
	}
	var out []crossCandidate
	for i, c := range cands {
		after, ok := s.identity(c.Pid, vp.kernel)
		if !ok || c.Start == 0 || before[i] != c.Start || after != c.Start {
			continue
		}
		if vp.of(c.Pid) != c.In {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// identity returns a live process's start time, read directly from
// /proc/<pid>/stat (which answers even when the directory listing hides
// the PID), or from the kernel view when /proc does not answer.
func (s *Scanner) identity(pid int, ks kernelSet) (uint64, bool) {
	if !probeLeader(pid) {
		if kt, ok := ks[pid]; ok {
			return kt.StartTicks, true
		}
		return 0, false
	}
	if st, ok := statOf(s.procfd, pid); ok {
		return st.StartTicks, true
	}
	if kt, ok := ks[pid]; ok {
		return kt.StartTicks, true
	}
	return 0, false
}

// excused reports whether a candidate is a configured blind spot: missing
// from the kernel view only, with the configured PID and comm, in the
// scanner's own PID namespace. The namespace is read from NSpid in status
// (one entry: the namespace of the procfs we read, which is ours), since
// the ns links of a process like the VM's PID 1 cannot be followed.
func (s *Scanner) excused(c crossCandidate) (BlindSpot, bool) {
	if c.In.Kernel || !c.In.Procfs || !c.In.Probe {
		return BlindSpot{}, false
	}
	for _, b := range s.opts.KernelBlindSpots {
		if b.PID != c.Pid || b.Comm != c.Comm {
			continue
		}
		st, err := readStatus(s.procfd, c.Pid)
		if err != nil || st.Tgid != c.Pid || len(st.NSpid) != 1 || !s.selfInProcNS {
			continue
		}
		return b, true
	}
	return BlindSpot{}, false
}
