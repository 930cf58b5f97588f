package sensor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// DefaultRingBufferSize is the ring buffer size when Options leaves it 0.
const DefaultRingBufferSize = 8 << 20

// The kernel side wakes the reader for records of every kind only once
// 1/wakeupFraction of the ring buffer is pending; pollInterval bounds how
// long a record can wait before Read picks it up anyway, and how long Read
// takes to notice a cancelled context.
const (
	wakeupFraction = 32
	pollInterval   = 25 * time.Millisecond
)

// resyncInterval is how often Read re-measures the wall clock's offset from
// the kernel's boot clock, at the latest.
const resyncInterval = time.Minute

// Options configure a Sensor.
type Options struct {
	// Syscalls are the syscalls to report, as x86_64 names ("openat") or
	// decimal numbers ("257"). Empty means DefaultSyscalls.
	Syscalls []string
	// RingBufferSize is the ring buffer's size in bytes: a power of two and
	// a multiple of the page size. 0 means DefaultRingBufferSize.
	RingBufferSize int
	// IgnoreTgid is a process whose syscalls and lifecycle are not
	// reported. 0 means this process, so the agent does not watch itself.
	IgnoreTgid int
	// CgroupHierarchy picks the hierarchy of the cgroup path in process
	// records: "unified" (cgroup v2), "pids", "memory" or "cpu" (v1).
	// Empty means: pids if it is mounted as v1 (hybrid hosts, where
	// runtimes with the cgroupfs driver put containers), else unified.
	CgroupHierarchy string
	// Snaplen is how many bytes of the data of each read, write, send and
	// receive the kernel copies (SyscallRecord.Data), at most MaxSnaplen;
	// 0 copies none (Falco copies DefaultSnaplen).
	Snaplen int
}

// objects are the kernel objects a Sensor holds. Variables are left out on
// purpose: loading them would mmap their maps, and a mapping keeps a map
// alive after Close until the garbage collector unmaps it.
type objects struct {
	sensorBPFPrograms
	sensorBPFMaps
}

func (o *objects) Close() error {
	return errors.Join(o.sensorBPFPrograms.Close(), o.sensorBPFMaps.Close())
}

// Sensor is the loaded and attached eBPF sensor.
type Sensor struct {
	objs    *objects
	links   []link.Link
	iter    *link.Iter
	reader  *ringbuf.Reader
	decoder *Decoder

	readMu    sync.Mutex
	raw       ringbuf.Record
	watched   context.Context // the ctx whose cancellation wakes the reader
	unwatch   func() bool
	lastSync  time.Time // when decoder.BootOffset was last measured
	sinceSync int       // records decoded since
	ringSize  int
	// peak is the most bytes seen waiting in the ring buffer, sampled
	// every backlogSample records (read under readMu, stored atomically).
	peak       atomic.Int64
	sinceCheck int
	// snapMu serialises snapshots: the iterator has one scratch buffer.
	snapMu sync.Mutex

	nrs        []int // the enabled syscalls
	skipMu     sync.Mutex
	skipRdonly bool

	closeOnce sync.Once
	closeErr  error
}

// Open loads the sensor into the kernel, configures it and attaches it.
func Open(opts Options) (*Sensor, error) {
	nrs, err := resolveSyscalls(opts.Syscalls)
	if err != nil {
		return nil, fmt.Errorf("sensor: options: %w", err)
	}
	ringSize := opts.RingBufferSize
	if ringSize == 0 {
		ringSize = DefaultRingBufferSize
	}
	if ringSize < os.Getpagesize() || ringSize&(ringSize-1) != 0 {
		return nil, fmt.Errorf("sensor: options: ring buffer size %d is not a power of two of at least one page", ringSize)
	}
	hier, err := cgroupHierarchy(opts.CgroupHierarchy)
	if err != nil {
		return nil, fmt.Errorf("sensor: options: %w", err)
	}
	ignore := opts.IgnoreTgid
	if ignore == 0 {
		ignore = os.Getpid()
	}
	snaplen, err := snaplenConst(opts.Snaplen)
	if err != nil {
		return nil, fmt.Errorf("sensor: options: %w", err)
	}
	spec, err := prepareSpec(ringSize, map[string]uint32{
		sensorBPFVarAgentTgid:    uint32(ignore),
		sensorBPFVarCgroupHier:   hier,
		sensorBPFVarFmodeBacking: fmodeBacking(),
		sensorBPFVarWakeupBytes:  uint32(ringSize / wakeupFraction),
		sensorBPFVarSnaplen:      snaplen,
	})
	if err != nil {
		return nil, err
	}
	objs := new(objects)
	if err := spec.LoadAndAssign(objs, nil); err != nil {
		return nil, loadError(err)
	}
	s := &Sensor{objs: objs, ringSize: ringSize, nrs: nrs}
	if err := s.configure(nrs); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.attach(); err != nil {
		s.Close()
		return nil, err
	}
	s.reader, err = ringbuf.NewReader(objs.Events)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("sensor: open ring buffer: %w", err)
	}
	s.reader.SetDeadline(time.Now().Add(pollInterval))
	off, err := BootOffset()
	if err != nil {
		s.Close()
		return nil, err
	}
	s.decoder = NewDecoder(off)
	s.lastSync = time.Now()
	return s, nil
}

// prepareSpec checks the prerequisites and returns the embedded object's
// spec with one scratch buffer per CPU, a ring buffer of ringSize bytes (0
// leaves it as compiled: the task iterator does not use it) and the
// constants set, with RLIMIT_MEMLOCK lifted for the load.
func prepareSpec(ringSize int, consts map[string]uint32) (*ebpf.CollectionSpec, error) {
	if err := checkPrerequisites(); err != nil {
		return nil, err
	}
	spec, err := loadSensorBPF()
	if err != nil {
		return nil, fmt.Errorf("sensor: load embedded BPF object: %w", err)
	}
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, fmt.Errorf("sensor: count CPUs: %w", err)
	}
	spec.Maps[sensorBPFMapEbufs].MaxEntries = uint32(cpus)
	if ringSize > 0 {
		spec.Maps[sensorBPFMapEvents].MaxEntries = uint32(ringSize)
	}
	for name, v := range consts {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, fmt.Errorf("sensor: set %s: %w", name, err)
		}
	}
	// Kernels since 5.11 charge BPF memory to the cgroup; older ones need
	// RLIMIT_MEMLOCK lifted. RemoveMemlock does nothing when not needed.
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("sensor: lift RLIMIT_MEMLOCK: %w", err)
	}
	return spec, nil
}

func (s *Sensor) configure(nrs []int) error {
	specs := s.objs.SyscallSpecs
	for _, nr := range nrs {
		if err := specs.Put(uint32(nr), spec(nr, false)); err != nil {
			return fmt.Errorf("sensor: enable syscall %d (%s): %w", nr, SyscallName(nr), err)
		}
	}
	remap := s.objs.Ia32To64
	for nr, to := range ia32Remap {
		if to < 0 || nr >= maxSyscalls {
			continue
		}
		if err := remap.Put(uint32(nr), uint32(to+1)); err != nil {
			return fmt.Errorf("sensor: ia32 table entry %d: %w", nr, err)
		}
	}
	return nil
}

// SkipReadOnlyFiles turns the read-only file filter on or off, at any
// time. While it is on, the kernel side leaves unrecorded what no rule of
// a ruleset that only judges opens for writing can see: a read-only open
// (no O_CREAT, O_TRUNC, O_TMPFILE or O_PATH) of a regular file, a failed
// read-only open, and the close of an fd such an open returned, counted
// in Stats.Skipped instead. Opens for writing, and read-only opens of
// directories, devices, fifos and sockets, are recorded as before, and so
// is every fd a recorded syscall returns. Its limits: an fd above 1023 is
// always recorded; the fds are remembered per thread group, so a process
// that shares its fd table with another one (clone with CLONE_FILES and
// without CLONE_THREAD) may have a close of a write fd left unrecorded
// when the other one closed and reused its number.
func (s *Sensor) SkipReadOnlyFiles(on bool) error {
	s.skipMu.Lock()
	defer s.skipMu.Unlock()
	if s.skipRdonly == on {
		return nil
	}
	for _, nr := range s.nrs {
		if !slices.Contains(skipRdonlySyscalls, SyscallName(nr)) {
			continue
		}
		if err := s.objs.SyscallSpecs.Put(uint32(nr), spec(nr, on)); err != nil {
			return fmt.Errorf("sensor: read-only file filter on %s: %w", SyscallName(nr), err)
		}
	}
	s.skipRdonly = on
	return nil
}

// attach attaches the process lifecycle first, so that no syscall of a new
// process is reported before its fork.
func (s *Sensor) attach() error {
	progs := []struct {
		name string
		prog *ebpf.Program
	}{
		{"sched_process_fork", s.objs.SchedFork},
		{"sched_process_exec", s.objs.SchedExec},
		{"sched_process_exit", s.objs.SchedExit},
		{"sys_exit", s.objs.SysExit},
	}
	for _, p := range progs {
		l, err := link.AttachTracing(link.TracingOptions{Program: p.prog})
		if err != nil {
			return fmt.Errorf("sensor: attach tp_btf/%s: %w", p.name, err)
		}
		s.links = append(s.links, l)
	}
	it, err := link.AttachIter(link.IterOptions{Program: s.objs.Snapshot})
	if err != nil {
		return fmt.Errorf("sensor: attach iter/task: %w", err)
	}
	s.iter = it
	return nil
}

// Read blocks until the next record arrives and decodes it into r. It
// returns ctx.Err() as soon as ctx is done, even while records keep coming,
// and os.ErrClosed (wrapped) after Close.
// Records come in the order the kernel wrote them, across all CPUs. To
// spare the traced processes (and the agent) a wakeup per record, a quiet
// system's records reach Read up to 25 ms late; a busy one's as soon as
// 1/32 of the ring buffer is pending.
// Read is safe for concurrent use but serialises its callers.
func (s *Sensor) Read(ctx context.Context, r *Record) error {
	s.readMu.Lock()
	defer s.readMu.Unlock()
	s.watch(ctx)
	done := ctx.Done()
	for {
		select {
		case <-done:
			return ctx.Err()
		default:
		}
		err := s.reader.ReadInto(&s.raw)
		if err == nil {
			if s.sinceCheck++; s.sinceCheck >= backlogSample {
				s.sinceCheck = 0
				if n := int64(s.raw.Remaining); n > s.peak.Load() {
					s.peak.Store(n)
				}
			}
			s.sinceSync++
			if s.sinceSync >= 1<<16 {
				s.resync()
			}
			if err := s.decoder.Decode(s.raw.RawSample, r); err != nil {
				return fmt.Errorf("sensor: decode record: %w", err)
			}
			return nil
		}
		if errors.Is(err, ringbuf.ErrFlushed) {
			continue // woken by watch: ctx is done
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("sensor: read ring buffer: %w", err)
		}
		s.reader.SetDeadline(time.Now().Add(pollInterval))
		if time.Since(s.lastSync) > resyncInterval {
			s.resync()
		}
	}
}

// watch makes ctx's cancellation wake a Read that waits in the ring
// buffer's epoll: Flush interrupts the wait without taking the reader's
// lock, so the wait ends at once instead of at the next poll.
func (s *Sensor) watch(ctx context.Context) {
	if s.watched == ctx {
		return
	}
	if s.unwatch != nil {
		s.unwatch()
		s.unwatch = nil
	}
	s.watched = ctx
	if ctx.Done() != nil {
		s.unwatch = context.AfterFunc(ctx, func() { _ = s.reader.Flush() })
	}
}

// backlogSample is how many records Read takes between two samples of the
// ring buffer's backlog.
const backlogSample = 64

// RingBuffer returns the ring buffer's size and the most bytes seen waiting
// in it since Open: how close a burst came to overflowing it (sampled, so a
// short peak can be missed).
func (s *Sensor) RingBuffer() (size, peak int) {
	return s.ringSize, int(s.peak.Load())
}

// resync measures the boot clock's offset again: the wall clock may have
// been stepped since Open (NTP, settimeofday).
func (s *Sensor) resync() {
	if off, err := BootOffset(); err == nil {
		s.decoder.BootOffset = off
	}
	s.lastSync = time.Now()
	s.sinceSync = 0
}

// Snapshot lists every thread-group leader the kernel has, through the
// iter/task program, with the same details as an exec record. Kernel
// threads are included (KernelThread set, no Args or Exe). Tasks the BPF
// task iterator cannot see are absent: on our VMs, PID 1.
func (s *Sensor) Snapshot() ([]ProcessInfo, error) {
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	return snapshot(s.iter, s.decoder.BootOffset)
}

// CPUStats are one CPU's counters.
type CPUStats struct {
	Events    uint64 // records written to the ring buffer
	Drops     uint64 // records lost: the ring buffer was full
	Truncated uint64 // records written with some fields missing
	Skipped   uint64 // records the read-only file filter left in the kernel
}

// Stats are the kernel side's counters since Open.
type Stats struct {
	CPUStats
	PerCPU []CPUStats
}

// Stats reads the per-CPU counters.
func (s *Sensor) Stats() (Stats, error) {
	var per []sensorBPFStats
	if err := s.objs.Counters.Lookup(uint32(0), &per); err != nil {
		return Stats{}, fmt.Errorf("sensor: read counters: %w", err)
	}
	st := Stats{PerCPU: make([]CPUStats, len(per))}
	for i, c := range per {
		st.PerCPU[i] = CPUStats{Events: c.Events, Drops: c.Drops, Truncated: c.Truncated, Skipped: c.Skipped}
		st.Events += c.Events
		st.Drops += c.Drops
		st.Truncated += c.Truncated
		st.Skipped += c.Skipped
	}
	return st, nil
}

// BootOffset returns CLOCK_REALTIME minus CLOCK_BOOTTIME in nanoseconds:
// what turns the kernel's bpf_ktime_get_boot_ns into Unix time. It takes the
// tightest of a few samples.
func BootOffset() (int64, error) {
	var best, bestSpan int64 = 0, -1
	for range 5 {
		var r0, bt, r1 unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_REALTIME, &r0); err != nil {
			return 0, fmt.Errorf("sensor: read realtime clock: %w", err)
		}
		if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &bt); err != nil {
			return 0, fmt.Errorf("sensor: read boot clock: %w", err)
		}
		if err := unix.ClockGettime(unix.CLOCK_REALTIME, &r1); err != nil {
			return 0, fmt.Errorf("sensor: read realtime clock: %w", err)
		}
		span := r1.Nano() - r0.Nano()
		if bestSpan < 0 || span < bestSpan {
			bestSpan = span
			best = r0.Nano() + span/2 - bt.Nano()
		}
	}
	return best, nil
}

// Close detaches every program and frees the maps. It is safe to call more
// than once and concurrently with Read, which then returns an error.
func (s *Sensor) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		for i := len(s.links) - 1; i >= 0; i-- {
			if err := s.links[i].Close(); err != nil {
				errs = append(errs, fmt.Errorf("detach: %w", err))
			}
		}
		if s.iter != nil {
			if err := s.iter.Close(); err != nil {
				errs = append(errs, fmt.Errorf("detach iter: %w", err))
			}
		}
		if s.reader != nil {
			if err := s.reader.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close ring buffer: %w", err))
			}
		}
		if s.objs != nil {
			if err := s.objs.Close(); err != nil {
				errs = append(errs, fmt.Errorf("free objects: %w", err))
			}
		}
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("sensor: close: %w", err)
		}
	})
	return s.closeErr
}

// ---- environment --------------------------------------------------------

// OnlineCPUs is the number of CPUs online (/sys/devices/system/cpu/online),
// or the CPUs this process may run on when that cannot be read.
func OnlineCPUs() int {
	data, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return runtime.NumCPU()
	}
	if n := countCPUList(strings.TrimSpace(string(data))); n > 0 {
		return n
	}
	return runtime.NumCPU()
}

// countCPUList counts the CPUs of a list such as "0-3,5,7-8"; 0 when it
// does not parse.
func countCPUList(list string) int {
	n := 0
	for _, part := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return 0
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return 0
			}
		}
		n += b - a + 1
	}
	return n
}

const btfPath = "/sys/kernel/btf/vmlinux"

// Capabilities the sensor needs (linux/capability.h).
const (
	capSysAdmin = 21
	capPerfmon  = 38
	capBPF      = 39
)

// checkPrerequisites turns the usual failures into errors that say what to
// do, before the kernel answers with a bare EPERM.
func checkPrerequisites() error {
	if _, err := os.Stat(btfPath); err != nil {
		return fmt.Errorf("sensor: kernel BTF missing (%s): the kernel needs CONFIG_DEBUG_INFO_BTF=y for CO-RE: %w", btfPath, err)
	}
	eff, err := EffectiveCaps()
	if err != nil {
		return fmt.Errorf("sensor: read capabilities: %w", err)
	}
	has := func(c uint) bool { return eff&(1<<c) != 0 }
	if !has(capSysAdmin) && (!has(capBPF) || !has(capPerfmon)) {
		return fmt.Errorf("sensor: missing privileges: need CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN); run as root or grant them (effective set %#x)", eff)
	}
	return nil
}

// EffectiveCaps returns this process's effective capability set, one bit
// per CAP_* number, as /proc/self/status reports it.
func EffectiveCaps() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no CapEff in /proc/self/status")
}

// loadError explains a failed load: privileges, or a verifier rejection
// with the end of its log, which is where the reason is.
func loadError(err error) error {
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		tail := ve.Log
		if len(tail) > 20 {
			tail = tail[len(tail)-20:]
		}
		return fmt.Errorf("sensor: the kernel's verifier rejected a program: %w\nverifier log (tail):\n%s", err, strings.Join(tail, "\n"))
	}
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("sensor: load BPF objects: permission denied: need CAP_BPF and CAP_PERFMON (or root), and kernel.unprivileged_bpf_disabled does not apply to them: %w", err)
	}
	return fmt.Errorf("sensor: load BPF objects: %w", err)
}

// cgroupHierarchy maps the option to the kernel side's selector.
func cgroupHierarchy(name string) (uint32, error) {
	switch name {
	case "unified":
		return 0, nil
	case "pids":
		return 1, nil
	case "memory":
		return 2, nil
	case "cpu":
		return 3, nil
	case "":
		return detectHierarchy(), nil
	}
	return 0, fmt.Errorf("cgroup hierarchy %q: want unified, pids, memory or cpu", name)
}

// detectHierarchy picks pids when it is a v1 hierarchy of this process.
func detectHierarchy() uint32 {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return 0
	}
	return hierarchyFromProcCgroup(string(data))
}

func hierarchyFromProcCgroup(s string) uint32 {
	for _, line := range strings.Split(s, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || parts[0] == "0" {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == "pids" {
				return 1
			}
		}
	}
	return 0
}

// fmodeBacking is FMODE_BACKING of the running kernel, which marks the
// files overlayfs maps in place of its own. The bit moved in 6.14.
func fmodeBacking() uint32 {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return 0
	}
	return fmodeBackingFor(kernelVersion(unix.ByteSliceToString(u.Release[:])))
}

func fmodeBackingFor(major, minor int) uint32 {
	switch {
	case major > 6 || major == 6 && minor >= 14:
		return 1 << 24
	case major == 6 && minor >= 5:
		return 1 << 25
	}
	return 0
}

func kernelVersion(release string) (int, int) {
	fields := strings.FieldsFunc(release, func(r rune) bool { return r < '0' || r > '9' })
	if len(fields) < 2 {
		return 0, 0
	}
	major, _ := strconv.Atoi(fields[0])
	minor, _ := strconv.Atoi(fields[1])
	return major, minor
}
