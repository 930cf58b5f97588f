package scan

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/sensor"
)

// Options configure a Scanner. The zero value scans /proc without a kernel
// view.
type Options struct {
	// ProcPath is where the host's procfs is mounted ("/proc"; a DaemonSet
	// may use /host/proc).
	ProcPath string
	// HostRoot is where the node's / is seen ("" or "/" on the node; a
	// DaemonSet mounts it at /host): the node's C runtime and container
	// runtime binaries are learnt there.
	HostRoot string
	// Kernel is the kernel's own task list; nil leaves the kernel view out
	// (and says so in the report).
	Kernel KernelView
	// KernelBlindSpots are processes known to be missing from the kernel
	// view on this platform. See BlindSpot.
	KernelBlindSpots []BlindSpot
	// PidMax bounds the probe sweep; 0 reads /proc/sys/kernel/pid_max.
	PidMax int
	// Workers is the parallelism of the sweep and of reading /proc; 0
	// means GOMAXPROCS.
	Workers int
	// ListingTimeout bounds each libc listing run inside a root (default
	// 5 s).
	ListingTimeout time.Duration
	// MaxViews bounds the libc views run per scan (default 64): one per
	// root with a preload file and one per distinct LD_PRELOAD environment.
	MaxViews int
	// Containers returns runtime metadata of a container by full id, so
	// findings carry its name and image; nil leaves them empty.
	Containers func(fullID string) *container.Info
	// Scanned, when set, is told of every scan Run makes: its report, or
	// the error that stopped it (for the console's health view).
	Scanned func(rep *Report, err error)
}

// DefaultListingTimeout bounds one libc listing.
const DefaultListingTimeout = 5 * time.Second

// Scanner runs scans. It remembers the previous scan's findings, so that
// Report.New holds only what appeared since, and when each was first seen.
// A Scanner runs one scan at a time.
type Scanner struct {
	opts Options
	libs *libraryCache
	hash *hashCache

	mu sync.Mutex
	// Per scan.
	procfd    int
	dentBuf   []byte
	selfMntNS uint64
	selfPidNS uint64
	selfRoot  rootKey
	// selfInProcNS: the procfs read is the one of the scanner's own PID
	// namespace.
	selfInProcNS bool
	boot         int64 // realtime minus boottime, ns
	host         *hostFiles
	report       *Report
	procs        map[int]*proc
	envGroups    []*envGroup
	// Across scans: key -> first seen (ns), for the findings of the last
	// scan.
	seen map[string]int64
}

// New returns a Scanner.
func New(opts Options) *Scanner {
	if opts.ProcPath == "" {
		opts.ProcPath = "/proc"
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.ListingTimeout <= 0 {
		opts.ListingTimeout = DefaultListingTimeout
	}
	if opts.MaxViews <= 0 {
		opts.MaxViews = 64
	}
	return &Scanner{opts: opts, libs: newLibraryCache(), hash: newHashCache(), seen: map[string]int64{},
		dentBuf: make([]byte, 64<<10)}
}

// Report is the result of one scan.
type Report struct {
	// Findings are every confirmed finding, ordered by kind and key.
	Findings []*Finding
	// New are the findings that the previous scan of this Scanner did not
	// have: what a continuous scan alerts on.
	New []*Finding
	// Excused are processes a configured blind spot excused from the
	// kernel view, as "PID:COMM".
	Excused []string
	// Notes say what could not be checked and why.
	Notes []string
	Stats Stats
}

// Stats describe the work of one scan.
type Stats struct {
	Processes     int // thread-group leaders read from /proc
	KernelThreads int
	Unreadable    int // processes some of whose files could not be read
	Roots         int // distinct root filesystems
	Views         int // libc listings compared
	Libraries     int // distinct executable files mapped
	PidMax        int
	KernelView    bool
	Candidates    int // disagreements seen once, before confirmation
	Duration      time.Duration
	Sweep         time.Duration
}

// Scan runs one full scan.
func (s *Scanner) Scan(ctx context.Context) (*Report, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := time.Now()
	procfd, err := openProc(s.opts.ProcPath)
	if err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	defer closeFD(procfd)
	s.procfd = procfd
	s.report = &Report{}
	r := s.report
	if err := s.learnSelf(); err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	// The host's known files are learnt beside the views (hashing the
	// runtime binaries is most of the scan's CPU time on a small host).
	var (
		host     *hostFiles
		hostNote string
		hostDone = make(chan struct{})
	)
	go func() { host, hostNote = s.learnHost(); close(hostDone) }()
	defer func() { <-hostDone }()
	pidMax := s.opts.PidMax
	if pidMax <= 0 {
		if pidMax, err = readPidMax(s.opts.ProcPath); err != nil {
			return nil, fmt.Errorf("scan: %w", err)
		}
	}
	r.Stats.PidMax = pidMax

	// The kernel-side views: task iterator, /proc directory, probes.
	var vp viewPass
	if s.opts.Kernel != nil {
		if vp.kernel, err = s.kernelSnapshot(); err != nil {
			return nil, fmt.Errorf("scan: %w", err)
		}
		r.Stats.KernelView = true
	} else {
		r.Notes = append(r.Notes, "no kernel view (eBPF task iterator): /proc and probes compared only")
	}
	vp.procfs = newPidSet(pidMax)
	var pids []int
	if err := listPids(procfd, s.dentBuf, func(p int) { vp.procfs.add(p); pids = append(pids, p) }); err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	sw := time.Now()
	vp.probe = sweep(pidMax, s.opts.Workers)
	// PIDs above pid_max (it was lowered since they started) are probed
	// one by one.
	probeAbove := func(p int) {
		if p >= pidMax && probeLeader(p) {
			vp.probe.add(p)
		}
	}
	for _, p := range pids {
		probeAbove(p)
	}
	for p := range vp.kernel {
		probeAbove(p)
	}
	r.Stats.Sweep = time.Since(sw)
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	procs := newCollector(procfd).readAll(pids, s.opts.Workers)
	<-hostDone
	s.host = host
	if hostNote != "" {
		r.Notes = append(r.Notes, hostNote)
	}
	s.classifyRuntime(procs)
	s.procs = make(map[int]*proc, len(procs))
	for _, p := range procs {
		s.procs[p.Pid] = p
		if p.Kernel {
			r.Stats.KernelThreads++
		} else {
			r.Stats.Processes++
		}
		if len(p.ReadErrs) > 0 {
			r.Stats.Unreadable++
		}
	}

	var findings []*Finding
	fs, err := s.crossView(&vp, pidMax)
	if err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	findings = append(findings, fs...)

	roots := s.groupRoots(procs)
	r.Stats.Roots = len(roots)
	for _, rt := range roots {
		findings = append(findings, s.inspectRoot(rt)...)
	}
	findings = append(findings, s.environments(roots)...)
	findings = append(findings, s.injected(roots)...)
	hidden, err := s.libcViews(ctx, roots, &vp)
	if err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	findings = append(findings, hidden...)

	s.finish(findings, start)
	r.Stats.Duration = time.Since(start)
	s.procs = nil
	s.host = nil
	return r, nil
}

func (s *Scanner) learnSelf() error {
	var err error
	if s.selfMntNS, err = nsInode(s.procfd, "self/ns/mnt"); err != nil {
		return fmt.Errorf("own mount namespace: %w", err)
	}
	if s.selfPidNS, err = nsInode(s.procfd, "self/ns/pid"); err != nil {
		return fmt.Errorf("own pid namespace: %w", err)
	}
	if st, err := readStatus(s.procfd, os.Getpid()); err == nil {
		s.selfInProcNS = len(st.NSpid) == 1
	}
	var st unix.Stat_t
	if err := unix.Stat("/", &st); err != nil {
		return fmt.Errorf("own root: %w", err)
	}
	s.selfRoot = rootKey{MntNS: s.selfMntNS, Dev: st.Dev, Ino: st.Ino}
	if s.boot == 0 {
		if s.boot, err = sensor.BootOffset(); err != nil {
			return err
		}
	}
	return nil
}

// crossView turns disagreements between the kernel-side views into
// findings, after confirming them.
func (s *Scanner) crossView(vp *viewPass, pidMax int) ([]*Finding, error) {
	r := s.report
	var cands []crossCandidate
	for _, c := range s.crossCandidates(vp, pidMax) {
		if b, ok := s.excused(c); ok {
			r.Excused = append(r.Excused, b.String())
			continue
		}
		cands = append(cands, c)
	}
	r.Stats.Candidates += len(cands)
	if len(cands) == 0 {
		return nil, nil
	}
	confirmed, err := s.confirmCross(cands, pidMax)
	if err != nil {
		return nil, err
	}
	var out []*Finding
	for _, c := range confirmed {
		p := s.procs[c.Pid]
		if p == nil {
			p = newCollector(s.procfd).read(c.Pid)
		}
		if p == nil {
			p = &proc{Pid: c.Pid, Stat: statInfo{Comm: c.Comm, StartTicks: c.Start}}
		}
		f := &Finding{Key: fmt.Sprintf("view:%d:%d", c.Pid, c.Start)}
		f.Kind = KindViewMismatch
		f.Views = c.In.text(s.opts.Kernel != nil)
		f.Summary = fmt.Sprintf("process %d (%s) is %s", c.Pid, c.Comm, f.Views)
		f.Detail = map[string]string{"pid": fmt.Sprint(c.Pid)}
		f.Process = s.processState(p)
		if kt, ok := vp.kernel[c.Pid]; ok && f.Process.Cgroup == "" && kt.Cgroup != "" {
			// /proc does not answer for it: its container is the one the
			// kernel's task view says.
			s.containerFromCgroup(f.Process, kt.Cgroup)
		}
		f.Detail["started"] = isoTime(f.Process.StartTime)
		out = append(out, f)
	}
	return out, nil
}

// finish sorts the findings, fills in first-seen times and the diff
// against the previous scan.
func (s *Scanner) finish(findings []*Finding, start time.Time) {
	r := s.report
	now := start.UnixNano()
	byKey := map[string]*Finding{}
	for _, f := range findings {
		if f.Process == nil || f.Process.Pid <= 0 {
			// A finding names a live process by its real PID, or it is
			// not raised: "pid 0 on the host" would send a responder to
			// the wrong place.
			r.Notes = append(r.Notes, fmt.Sprintf("not reported, no process to name: %s", f.Summary))
			continue
		}
		if byKey[f.Key] != nil {
			continue
		}
		byKey[f.Key] = f
		r.Findings = append(r.Findings, f)
	}
	sort.Slice(r.Findings, func(i, j int) bool {
		a, b := r.Findings[i], r.Findings[j]
		if a.Kind != b.Kind {
			return kindOrder(a.Kind) < kindOrder(b.Kind)
		}
		return a.Key < b.Key
	})
	seen := make(map[string]int64, len(r.Findings))
	for _, f := range r.Findings {
		f.Time = now
		if first, ok := s.seen[f.Key]; ok {
			f.FirstSeen = first
		} else {
			f.FirstSeen = now
			r.New = append(r.New, f)
		}
		seen[f.Key] = f.FirstSeen
	}
	s.seen = seen
}

func kindOrder(k string) int {
	switch k {
	case KindHiddenProcess:
		return 0
	case KindViewMismatch:
		return 1
	case KindInjectedLibrary:
		return 2
	case KindPreloadConfig:
		return 3
	}
	return 4
}

// Run scans every interval, and at once whenever kick receives, until ctx
// is done. It calls emit for each new finding (not seen by the previous
// scan) and fail for each scan that failed. It is how `truesight run`
// scans continuously: kick it after a write to a preload file or when a
// container starts.
func (s *Scanner) Run(ctx context.Context, interval time.Duration, kick <-chan struct{}, emit func(*Finding), fail func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		rep, err := s.Scan(ctx)
		if s.opts.Scanned != nil && ctx.Err() == nil {
			s.opts.Scanned(rep, err)
		}
		switch {
		case errors.Is(err, context.Canceled) || ctx.Err() != nil:
			return
		case err != nil:
			if fail != nil {
				fail(err)
			}
		default:
			for _, f := range rep.New {
				emit(f)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-kick:
		}
	}
}
