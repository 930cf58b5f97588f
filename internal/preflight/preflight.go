package preflight

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/truesightsec/truesight/internal/node"
	"github.com/truesightsec/truesight/internal/sensor"
)

// Status is the outcome of one check.
type Status string

// The outcomes: OK, Missing (the agent cannot work as asked without it) and
// Warning (it works, with less).
const (
	OK      Status = "ok"
	Missing Status = "missing"
	Warning Status = "warning"
)

// Tier is a privilege tier of the chart: what the agent is asked to do.
type Tier string

// The tiers: Detect watches and scans; Enforce also denies opens with
// fanotify permission events.
const (
	Detect  Tier = "detect"
	Enforce Tier = "enforce"
)

// Check is one thing checked.
type Check struct {
	Name   string // e.g. "CAP_BPF", "kernel", "bpf()"
	Status Status
	Detail string // what was found
	Fix    string // what to do; empty when OK
}

// Line is the check as one line: name, status, what was found and what to
// do. preflight prints it and the agent refuses to start with it.
func (c Check) Line() string {
	s := fmt.Sprintf("%s: %s: %s", c.Name, c.Status, c.Detail)
	if c.Fix != "" {
		s += "; " + c.Fix
	}
	return s
}

// Options say what to check.
type Options struct {
	// HostRoot is where the node's / is seen ("" on the node, /host in a
	// pod).
	HostRoot string
	// Tier selects the capabilities checked; "" is Detect.
	Tier Tier
	// Sockets are the container runtime sockets to try, as paths on the
	// node (below HostRoot); nil tries none.
	Sockets []string
	// SocketTimeout bounds one connect; 0 is one second.
	SocketTimeout time.Duration
}

// Report is every check, in a fixed order.
type Report struct {
	Checks []Check
}

// Missing returns the checks that are missing.
func (r *Report) Missing() []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.Status == Missing {
			out = append(out, c)
		}
	}
	return out
}

// Err is nil when nothing is missing; otherwise it names every missing
// check, one line each.
func (r *Report) Err() error {
	m := r.Missing()
	if len(m) == 0 {
		return nil
	}
	lines := make([]string, len(m))
	for i, c := range m {
		lines[i] = "  " + c.Line()
	}
	return fmt.Errorf("this node or pod lacks what the agent needs (truesight preflight checks it):\n%s", strings.Join(lines, "\n"))
}

// Write prints the report as a table.
func (r *Report) Write(w io.Writer) {
	width := 0
	for _, c := range r.Checks {
		width = max(width, len(c.Name))
	}
	for _, c := range r.Checks {
		fmt.Fprintf(w, "%-*s  %-7s  %s", width, c.Name, c.Status, c.Detail)
		if c.Fix != "" {
			fmt.Fprintf(w, "; %s", c.Fix)
		}
		fmt.Fprintln(w)
	}
}

// Run runs every check.
func Run(opts Options) *Report {
	if opts.Tier == "" {
		opts.Tier = Detect
	}
	root := node.Root(opts.HostRoot)
	caps, capErr := sensor.EffectiveCaps()
	major, minor, kernel := kernelVersion()
	r := &Report{}
	r.Checks = append(r.Checks, checkKernel(major, minor, kernel), checkBTF(root))
	r.Checks = append(r.Checks, checkCaps(opts.Tier, caps, capErr, major, minor)...)
	r.Checks = append(r.Checks, checkBPF(), checkHostPID(root), checkPidMax(root),
		checkFS("bpffs", "/sys/fs/bpf", unix.BPF_FS_MAGIC, "not needed: truesight pins no BPF objects"),
		checkFS("tracefs", "/sys/kernel/tracing", unix.TRACEFS_MAGIC, "not needed: the sensor attaches BTF tracepoints, which need no tracefs"),
		checkFanotify(opts.Tier))
	r.Checks = append(r.Checks, checkSockets(root, opts.Sockets, opts.SocketTimeout))
	return r
}

// Required runs the checks the agent cannot start without (kernel, BTF,
// the detect tier's capabilities, bpf()), quickly: no sockets, no probes
// of optional features.
func Required(hostRoot string) *Report {
	caps, capErr := sensor.EffectiveCaps()
	major, minor, kernel := kernelVersion()
	r := &Report{}
	r.Checks = append(r.Checks, checkKernel(major, minor, kernel), checkBTF(node.Root(hostRoot)))
	r.Checks = append(r.Checks, checkCaps(Detect, caps, capErr, major, minor)...)
	r.Checks = append(r.Checks, checkBPF())
	return r
}

// minKernel is the oldest kernel with CAP_BPF, the BPF ring buffer and
// BTF-enabled tracepoints together.
var minKernel = [2]int{5, 8}

func kernelVersion() (major, minor int, release string) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return 0, 0, ""
	}
	release = unix.ByteSliceToString(u.Release[:])
	parts := strings.SplitN(release, ".", 3)
	if len(parts) >= 2 {
		major, _ = strconv.Atoi(parts[0])
		minor, _ = strconv.Atoi(strings.TrimFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	}
	return major, minor, release
}

func atLeast(major, minor, wantMajor, wantMinor int) bool {
	return major > wantMajor || (major == wantMajor && minor >= wantMinor)
}

func checkKernel(major, minor int, release string) Check {
	c := Check{Name: "kernel", Detail: "Linux " + release}
	if atLeast(major, minor, minKernel[0], minKernel[1]) {
		c.Status = OK
		return c
	}
	c.Status = Missing
	c.Detail += fmt.Sprintf(", older than %d.%d", minKernel[0], minKernel[1])
	c.Fix = fmt.Sprintf("run the agent on nodes with Linux %d.%d or newer (CAP_BPF, the BPF ring buffer and BTF tracepoints)", minKernel[0], minKernel[1])
	return c
}

// btfPath is the kernel's own BTF. sysfs is not namespaced: the container
// runtime mounts the node's sysfs in every container, so the pod reads
// the same file at the same path as the node, and cilium/ebpf reads it
// there.
const btfPath = "/sys/kernel/btf/vmlinux"

func checkBTF(root node.Root) Check {
	c := Check{Name: "btf", Detail: btfPath}
	f, err := os.Open(btfPath)
	if err == nil {
		f.Close()
		c.Status = OK
		return c
	}
	c.Status = Missing
	c.Detail = fmt.Sprintf("%s: %v", btfPath, unwrapPath(err))
	if !root.IsHost() {
		if _, herr := os.Stat(root.Path(btfPath)); herr == nil {
			c.Fix = "the node has BTF but the pod's /sys hides it: do not mask /sys/kernel/btf (securityContext procMount and the runtime's masked paths)"
			return c
		}
	}
	c.Fix = "the kernel needs CONFIG_DEBUG_INFO_BTF=y (CO-RE): use a distribution kernel that ships BTF"
	return c
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Linux capability numbers (linux/capability.h).
const (
	capDacReadSearch = 2
	capKill          = 5
	capSysChroot     = 18
	capSysPtrace     = 19
	capSysAdmin      = 21
	capSysResource   = 24
	capPerfmon       = 38
	capBPF           = 39
)

// capability is one capability the agent may need and why.
type capability struct {
	name string
	bit  uint
	why  string
}

// detectCaps are the detect tier's capabilities. CAP_SYS_RESOURCE is
// checked apart: only kernels before 5.11 need it.
var detectCaps = []capability{
	{"CAP_BPF", capBPF, "load the eBPF sensor and create its maps"},
	{"CAP_PERFMON", capPerfmon, "attach the sensor's tracepoints and read kernel memory from them"},
	{"CAP_SYS_PTRACE", capSysPtrace, "read other processes' maps, environment, executable and root (/proc/<pid>/...) for the scan and container roots"},
	{"CAP_DAC_READ_SEARCH", capDacReadSearch, "read files of every owner in the node's and containers' roots (preload files, libraries) whatever their mode"},
	{"CAP_SYS_CHROOT", capSysChroot, "run a container's own ls and ps under its root (the scan's libc view, which a preload library fools)"},
}

// enforceCaps are what the enforce tier adds.
var enforceCaps = []capability{
	{"CAP_SYS_ADMIN", capSysAdmin, "fanotify permission events (FAN_CLASS_CONTENT) that deny opens of the loader's files"},
	{"CAP_KILL", capKill, "stop a process of any user that renamed or linked over a protected file before the file is restored"},
}

const addCap = "add it to the container's securityContext.capabilities.add (the chart's %s tier does)"

func checkCaps(tier Tier, caps uint64, capErr error, major, minor int) []Check {
	has := func(bit uint) bool { return capErr == nil && caps&(1<<bit) != 0 }
	var out []Check
	for _, cp := range detectCaps {
		c := Check{Name: cp.name, Detail: cp.why}
		switch {
		case capErr != nil:
			c.Status, c.Detail, c.Fix = Missing, fmt.Sprintf("cannot read the effective capabilities: %v", capErr), "check that /proc is mounted"
		case has(cp.bit):
			c.Status = OK
		case (cp.bit == capBPF || cp.bit == capPerfmon) && has(capSysAdmin):
			c.Status, c.Detail = OK, cp.why+" (CAP_SYS_ADMIN covers it)"
		default:
			c.Status, c.Fix = Missing, fmt.Sprintf(addCap, Detect)
		}
		out = append(out, c)
	}
	// Since 5.11 BPF memory is charged to the cgroup, not RLIMIT_MEMLOCK.
	res := Check{Name: "CAP_SYS_RESOURCE", Status: OK}
	switch {
	case has(capSysResource):
		res.Detail = "raise RLIMIT_MEMLOCK for the sensor's maps"
	case atLeast(major, minor, 5, 11):
		res.Detail = "not held, not needed: Linux 5.11 and newer charge BPF memory to the cgroup instead of RLIMIT_MEMLOCK"
	default:
		res.Status, res.Detail, res.Fix = Missing, "raise RLIMIT_MEMLOCK for the sensor's maps (Linux before 5.11)", fmt.Sprintf(addCap, Detect)
	}
	out = append(out, res)
	if tier == Enforce {
		for _, cp := range enforceCaps {
			c := Check{Name: cp.name, Detail: cp.why, Status: OK}
			if !has(cp.bit) {
				c.Status, c.Fix = Missing, fmt.Sprintf(addCap, Enforce)
			}
			out = append(out, c)
		}
	}
	return out
}

// checkBPF creates a one-entry map: the capabilities may be there and
// the container's seccomp profile still refuse the bpf() system call.
func checkBPF() Check {
	c := Check{Name: "bpf()", Detail: "the bpf system call creates maps"}
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: "ts_preflight", Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	if err == nil {
		_ = m.Close()
		c.Status = OK
		return c
	}
	c.Status = Missing
	c.Detail = fmt.Sprintf("the bpf system call failed: %v", err)
	switch {
	case errors.Is(err, unix.EPERM) && seccompFiltered():
		c.Fix = "this process runs under a seccomp filter that refuses bpf(): set the container's securityContext.seccompProfile.type to Unconfined (the chart does), or use a profile that allows bpf and perf_event_open"
	case errors.Is(err, unix.EPERM):
		c.Fix = "grant CAP_BPF (see above), or check kernel.unprivileged_bpf_disabled and the LSM in force"
	default:
		c.Fix = "the kernel needs CONFIG_BPF_SYSCALL=y"
	}
	return c
}

// seccompFiltered reports whether /proc/self/status says Seccomp: 2.
func seccompFiltered() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Seccomp:"); ok {
			return strings.TrimSpace(v) == "2"
		}
	}
	return false
}

// initPidNS is the inode of the kernel's initial PID namespace
// (PROC_PID_INIT_INO), the one every node's own processes run in.
const initPidNS = 0xEFFFFFFC

// checkHostPID checks that the agent runs in the node's PID namespace
// (hostPID), so that the pids of the sensor, of the node's /proc and of the
// runtimes agree. The node's procfs names the agent by its pid in the
// node's namespace (/proc/self); with hostPID that is the agent's own.
func checkHostPID(root node.Root) Check {
	proc := root.Path("/proc")
	c := Check{Name: "host PID namespace"}
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/pid", &st); err != nil {
		c.Status, c.Detail, c.Fix = Missing, fmt.Sprintf("stat /proc/self/ns/pid: %v", err), "mount procfs at /proc"
		return c
	}
	self, err := os.Readlink(proc + "/self")
	if err != nil {
		c.Status, c.Detail = Missing, fmt.Sprintf("read %s/self: %v: the node's /proc is not there", proc, unwrapPath(err))
		c.Fix = "mount the node's / at the host root (--host-root)"
		return c
	}
	if self != strconv.Itoa(os.Getpid()) {
		c.Status, c.Detail = Missing, fmt.Sprintf("the agent is pid %d in its own PID namespace and pid %s on the node", os.Getpid(), self)
		c.Fix = "run the pod with hostPID: true"
		return c
	}
	c.Status = OK
	c.Detail = "the agent's pids are the node's (" + proc + ")"
	if st.Ino != initPidNS {
		c.Status = Warning
		c.Detail += fmt.Sprintf(", but its PID namespace (inode %d) is not the kernel's initial one", st.Ino)
		c.Fix = "a nested node (a node in a container, like kind) hides the outer machine's processes"
	}
	return c
}

func checkPidMax(root node.Root) Check {
	p := root.Path("/proc/sys/kernel/pid_max")
	c := Check{Name: "pid_max"}
	b, err := os.ReadFile(p)
	n, perr := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || perr != nil || n <= 0 {
		if err == nil {
			err = fmt.Errorf("not a number: %q", strings.TrimSpace(string(b)))
		}
		c.Status, c.Detail, c.Fix = Missing, fmt.Sprintf("read %s: %v", p, unwrapPath(err)), "mount the node's / at the host root (--host-root)"
		return c
	}
	c.Status, c.Detail = OK, fmt.Sprintf("%d: the scan probes every PID up to it", n)
	return c
}

// checkFS reports whether a pseudo file system is mounted; the agent needs
// neither, so it is only ever a note.
func checkFS(name, path string, magic int64, note string) Check {
	c := Check{Name: name, Status: OK}
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err == nil && int64(st.Type) == magic {
		c.Detail = "mounted at " + path + "; " + note
	} else {
		c.Detail = "not mounted at " + path + "; " + note
	}
	return c
}

func checkFanotify(tier Tier) Check {
	c := Check{Name: "fanotify", Detail: "permission events (FAN_CLASS_CONTENT) are available: the enforce tier can deny opens"}
	fd, err := unix.FanotifyInit(unix.FAN_CLASS_CONTENT|unix.FAN_CLOEXEC, unix.O_RDONLY)
	if err == nil {
		_ = unix.Close(fd)
		c.Status = OK
		return c
	}
	c.Status = Warning
	if tier == Enforce {
		c.Status = Missing
	}
	switch {
	case errors.Is(err, unix.EPERM):
		c.Detail = "fanotify_init(FAN_CLASS_CONTENT): operation not permitted"
		if tier == Enforce {
			c.Fix = "grant CAP_SYS_ADMIN (the chart's enforce tier does)"
		} else {
			c.Fix = "only the enforce tier needs it (CAP_SYS_ADMIN); detection works without"
		}
	case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EINVAL):
		c.Detail = fmt.Sprintf("fanotify_init(FAN_CLASS_CONTENT): %v", err)
		c.Fix = "the kernel needs CONFIG_FANOTIFY=y and CONFIG_FANOTIFY_ACCESS_PERMISSIONS=y to enforce"
	default:
		c.Detail = fmt.Sprintf("fanotify_init(FAN_CLASS_CONTENT): %v", err)
	}
	return c
}

func checkSockets(root node.Root, sockets []string, timeout time.Duration) Check {
	if timeout <= 0 {
		timeout = time.Second
	}
	c := Check{Name: "container runtime"}
	var up, down []string
	for _, s := range sockets {
		p := root.Path(s)
		conn, err := net.DialTimeout("unix", p, timeout)
		if err != nil {
			down = append(down, p)
			continue
		}
		_ = conn.Close()
		up = append(up, p)
	}
	if len(up) > 0 {
		c.Status, c.Detail = OK, "reachable: "+strings.Join(up, ", ")
		return c
	}
	c.Status = Warning
	c.Detail = "no runtime socket answered (tried " + strings.Join(down, ", ") + ")"
	if len(sockets) == 0 {
		c.Detail = "no runtime socket configured"
	}
	c.Fix = "container names and images print <NA>: mount the runtime's socket directory under the host root, or name the socket (--cri-socket, truesight.containers)"
	return c
}
