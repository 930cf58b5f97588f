package posture

import (
	"bufio"
	"bytes"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/truesightsec/truesight/internal/container"
)

// Observed is what the kernel shows of one running container, read from
// /proc of its lowest pid.
type Observed struct {
	ID      string `json:"id"` // full id
	Name    string `json:"name,omitempty"`
	Image   string `json:"image,omitempty"`
	Runtime string `json:"runtime,omitempty"`
	Pid     int64  `json:"pid"`

	Uid        [4]int64 `json:"uid"` // real, effective, saved, fs
	Gid        [4]int64 `json:"gid"`
	Groups     []int64  `json:"groups"`
	CapEff     uint64   `json:"cap_eff"`
	CapBnd     uint64   `json:"cap_bnd"`
	NoNewPrivs bool     `json:"no_new_privs"`
	Seccomp    int      `json:"seccomp"` // 0 disabled, 1 strict, 2 filter
	// LSM is the process's security label (attr/apparmor/current, else
	// attr/current); "" when no LSM gives one.
	LSM    string `json:"lsm"`
	RootRO bool   `json:"root_read_only"`
	// Namespace inodes.
	PidNS uint64 `json:"pid_ns"`
	NetNS uint64 `json:"net_ns"`
	IPCNS uint64 `json:"ipc_ns"`
	// SharesPIDWith lists the other containers in the same pid namespace
	// (their labels); sharesPIDIDs their ids.
	SharesPIDWith []string `json:"shares_pid_with,omitempty"`
	sharesPIDIDs  []string
	// HostMounts are the writable mounts of host filesystems.
	HostMounts []HostMount `json:"writable_host_mounts,omitempty"`
	Contents   Contents    `json:"contents"`
}

// HostMount is a writable mount of a host filesystem in a container.
type HostMount struct {
	Source string `json:"source"` // root inside the host filesystem
	Dest   string `json:"dest"`
	FSType string `json:"fstype"`
}

// Label names the container for reports: its name, else its short id.
func (o *Observed) Label() string {
	if o.Name != "" {
		return o.Name
	}
	return container.ShortID(o.ID)
}

// Self is the agent's own view, the host's when it runs in the host's
// namespaces.
type Self struct {
	PidNS, NetNS, IPCNS uint64
	CapBnd              uint64
}

// ReadSelf reads the namespaces and capability bounding set of the
// calling process from procRoot/self.
func ReadSelf(procRoot string) (Self, error) {
	var s Self
	var err error
	dir := filepath.Join(procRoot, "self")
	if s.PidNS, err = nsInode(dir, "pid"); err != nil {
		return s, err
	}
	if s.NetNS, err = nsInode(dir, "net"); err != nil {
		return s, err
	}
	if s.IPCNS, err = nsInode(dir, "ipc"); err != nil {
		return s, err
	}
	st, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return s, err
	}
	v, _ := statusField(st, "CapBnd")
	s.CapBnd, _ = strconv.ParseUint(v, 16, 64)
	return s, nil
}

func nsInode(procDir, ns string) (uint64, error) {
	l, err := os.Readlink(filepath.Join(procDir, "ns", ns))
	if err != nil {
		return 0, err
	}
	// pid:[4026531836]
	i, j := strings.IndexByte(l, '['), strings.IndexByte(l, ']')
	if i < 0 || j < i {
		return 0, fmt.Errorf("%s: unexpected namespace link %q", ns, l)
	}
	return strconv.ParseUint(l[i+1:j], 10, 64)
}

func statusField(st []byte, key string) (string, bool) {
	sc := bufio.NewScanner(bytes.NewReader(st))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && k == key {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

func idList(s string) []int64 {
	var out []int64
	for _, f := range strings.Fields(s) {
		n, err := strconv.ParseInt(f, 10, 64)
		if err == nil {
			out = append(out, n)
		}
	}
	return out
}

// Observe reads what the kernel shows of the container id whose lowest
// process is pid, under procRoot (/proc, or /host/proc in a DaemonSet).
func Observe(procRoot, id string, pid int64) (*Observed, error) {
	dir := filepath.Join(procRoot, strconv.FormatInt(pid, 10))
	o := &Observed{ID: id, Pid: pid}
	st, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return nil, err
	}
	// While a container starts, its first process is the runtime's init
	// (runc:[2:INIT]), with all capabilities, before it execs the
	// container's program: that is not the container yet.
	if name, _ := statusField(st, "Name"); strings.HasPrefix(name, "runc:[") {
		return nil, fmt.Errorf("container %s is starting (pid %d is %s)", container.ShortID(id), pid, name)
	}
	if v, ok := statusField(st, "Uid"); ok {
		copy(o.Uid[:], idList(v))
	}
	if v, ok := statusField(st, "Gid"); ok {
		copy(o.Gid[:], idList(v))
	}
	if v, ok := statusField(st, "Groups"); ok {
		o.Groups = idList(v)
	}
	if v, ok := statusField(st, "CapEff"); ok {
		o.CapEff, _ = strconv.ParseUint(v, 16, 64)
	}
	if v, ok := statusField(st, "CapBnd"); ok {
		o.CapBnd, _ = strconv.ParseUint(v, 16, 64)
	}
	if v, ok := statusField(st, "NoNewPrivs"); ok {
		o.NoNewPrivs = v == "1"
	}
	if v, ok := statusField(st, "Seccomp"); ok {
		o.Seccomp, _ = strconv.Atoi(v)
	}
	o.LSM = readLabel(dir)
	if o.PidNS, err = nsInode(dir, "pid"); err != nil {
		return nil, err
	}
	if o.NetNS, err = nsInode(dir, "net"); err != nil {
		return nil, err
	}
	if o.IPCNS, err = nsInode(dir, "ipc"); err != nil {
		return nil, err
	}
	mi, err := os.ReadFile(filepath.Join(dir, "mountinfo"))
	if err != nil {
		return nil, err
	}
	o.RootRO, o.HostMounts = readMounts(mi)
	o.Contents = InspectRoot(filepath.Join(dir, "root"))
	return o, nil
}

// readLabel reads the LSM label of a process: AppArmor's own attribute
// first, then the shared one. Errors (no LSM provides it) give "".
func readLabel(dir string) string {
	for _, f := range []string{"attr/apparmor/current", "attr/current"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err == nil {
			return strings.TrimSpace(strings.TrimRight(string(b), "\x00\n"))
		}
	}
	return ""
}

// hostFSTypes are filesystems that live on the node's disks or are
// shared with it: a bind mount of one is a host directory.
var hostFSTypes = []string{"ext2", "ext3", "ext4", "xfs", "btrfs", "zfs", "f2fs", "vfat", "nfs", "nfs4", "9p", "virtiofs", "cifs"}

// runtimeFiles are the files every runtime bind mounts from its own state
// directory; they are not the user's host mounts.
var runtimeFiles = []string{"/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/run/.containerenv", "/dev/termination-log", "/.dockerenv"}

// readMounts reads a mountinfo file: whether "/" is mounted read-only,
// and the writable mounts of host filesystems.
func readMounts(mi []byte) (rootRO bool, host []HostMount) {
	for _, m := range container.ParseMountInfo(mi) {
		ro := slices.Contains(m.Options, "ro")
		if m.MountPoint == "/" {
			rootRO = ro // the last mount of / is the one seen
			continue
		}
		if ro || !slices.Contains(hostFSTypes, m.FSType) || slices.Contains(runtimeFiles, m.MountPoint) {
			continue
		}
		host = append(host, HostMount{Source: m.Root, Dest: m.MountPoint, FSType: m.FSType})
	}
	return rootRO, host
}

// capNames are the capability names by bit.
var capNames = []string{"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE"}

// CapList names the capabilities of a set.
func CapList(set uint64) []string {
	var out []string
	for set != 0 {
		b := bits.TrailingZeros64(set)
		set &^= 1 << b
		if b < len(capNames) {
			out = append(out, capNames[b])
		} else {
			out = append(out, "CAP_"+strconv.Itoa(b))
		}
	}
	return out
}

// runningDangerous are the capabilities no runtime grants by default
// that break isolation (DAC_OVERRIDE is in the default set: TSP005).
var runningDangerous = []string{"SYS_ADMIN", "SYS_PTRACE", "SYS_MODULE", "SYS_RAWIO", "DAC_READ_SEARCH", "BPF", "PERFMON", "NET_ADMIN", "SYS_BOOT", "MAC_ADMIN", "MAC_OVERRIDE"}

// Node is what posture knows of the node's LSMs.
type Node struct {
	// LSMs are the active LSMs (/sys/kernel/security/lsm); nil when
	// securityfs is not readable.
	LSMs     []string `json:"lsms"`
	AppArmor bool     `json:"apparmor"`
	// How says how AppArmor's availability was decided.
	How string `json:"how"`
}

// ReadNode finds which LSMs are active. sysRoot is normally /sys.
func ReadNode(sysRoot, procRoot string) Node {
	var n Node
	if b, err := os.ReadFile(filepath.Join(sysRoot, "kernel/security/lsm")); err == nil {
		n.LSMs = strings.Split(strings.TrimSpace(string(b)), ",")
		n.AppArmor = slices.Contains(n.LSMs, "apparmor")
		n.How = "/sys/kernel/security/lsm lists " + strings.TrimSpace(string(b))
		return n
	}
	if ids, err := listLSMs(); err == nil {
		for _, id := range ids {
			n.LSMs = append(n.LSMs, lsmName(id))
		}
		n.AppArmor = slices.Contains(n.LSMs, "apparmor")
		n.How = "the kernel's lsm_list_modules lists " + strings.Join(n.LSMs, ",")
		return n
	}
	if b, err := os.ReadFile(filepath.Join(sysRoot, "module/apparmor/parameters/enabled")); err == nil {
		n.AppArmor = strings.TrimSpace(string(b)) == "Y"
		n.How = "/sys/module/apparmor/parameters/enabled is " + strings.TrimSpace(string(b))
		return n
	}
	if _, err := os.Stat(filepath.Join(procRoot, "self/attr/apparmor")); err == nil {
		n.AppArmor = true
		n.How = "/proc/self/attr/apparmor exists"
		return n
	}
	n.How = "securityfs is not mounted (no /sys/kernel/security/lsm), the kernel has no apparmor module and /proc/self/attr/apparmor is absent"
	return n
}

// CheckNode judges the node.
func CheckNode(n Node, hostname string) []Finding {
	if n.AppArmor {
		return nil
	}
	f := newFinding(NodeNoAppArmor, "AppArmor unavailable on this node: "+n.How, "")
	f.Workload = "node " + hostname
	return []Finding{f}
}

// SharePIDs fills SharesPIDWith of each container from their pid
// namespace inodes.
func SharePIDs(obs []*Observed) {
	byNS := map[uint64][]*Observed{}
	for _, o := range obs {
		byNS[o.PidNS] = append(byNS[o.PidNS], o)
	}
	for _, o := range obs {
		o.SharesPIDWith, o.sharesPIDIDs = nil, nil
		for _, other := range byNS[o.PidNS] {
			if other != o {
				o.SharesPIDWith = append(o.SharesPIDWith, other.Label())
				o.sharesPIDIDs = append(o.sharesPIDIDs, other.ID)
			}
		}
		slices.Sort(o.SharesPIDWith)
		slices.Sort(o.sharesPIDIDs)
	}
}

// CheckRunning judges one running container from what the kernel shows.
// SharePIDs must have run over all the containers first.
func CheckRunning(o *Observed, self Self) []Finding {
	var fs []Finding
	add := func(id, msg string) {
		f := newFinding(id, msg, o.Label())
		f.Workload = "container " + o.Label()
		f.ContainerID, f.Pid = o.ID, o.Pid
		fs = append(fs, f)
	}
	if !o.RootRO {
		add(ReadOnlyRoot, "the root filesystem is mounted rw (mountinfo)")
	}
	root := o.Uid[1] == 0
	if root {
		add(RunsAsRoot, fmt.Sprintf("pid %d runs with uid %d %d %d %d, gid %d (status)", o.Pid, o.Uid[0], o.Uid[1], o.Uid[2], o.Uid[3], o.Gid[1]))
	}
	if !o.NoNewPrivs {
		add(PrivEscalation, "NoNewPrivs: 0 (status)")
	}
	privileged := self.CapBnd != 0 && o.CapEff&self.CapBnd == self.CapBnd
	if privileged {
		add(Privileged, fmt.Sprintf("CapEff %016x holds every capability of the host's bounding set", o.CapEff))
	}
	if o.CapBnd != 0 && !privileged {
		add(CapsNotDropped, "capability bounding set "+strings.Join(CapList(o.CapBnd), ","))
	}
	if !privileged {
		for _, c := range CapList(o.CapEff) {
			if slices.Contains(runningDangerous, c) {
				add(DangerousCap, "capability "+c+" effective (CapEff)")
			}
		}
	}
	hostPID := o.PidNS == self.PidNS
	if len(o.SharesPIDWith) > 0 && !hostPID {
		add(SharedPIDNamespace, fmt.Sprintf("pid namespace %d shared with %s", o.PidNS, strings.Join(o.SharesPIDWith, ", ")))
		if root && !o.RootRO {
			add(AttackPath, fmt.Sprintf("runs as uid 0 with a rw root and shares pid namespace %d with %s", o.PidNS, strings.Join(o.SharesPIDWith, ", ")))
		}
	}
	if hostPID {
		add(HostPID, fmt.Sprintf("pid namespace %d is the host's", o.PidNS))
	}
	if o.IPCNS == self.IPCNS {
		add(HostIPC, fmt.Sprintf("ipc namespace %d is the host's", o.IPCNS))
	}
	if o.NetNS == self.NetNS {
		add(HostNetwork, fmt.Sprintf("net namespace %d is the host's", o.NetNS))
	}
	if o.Seccomp == 0 && !privileged {
		add(Seccomp, "Seccomp: 0 (status)")
	}
	switch {
	case o.LSM == "":
		add(AppArmorMissing, "no LSM label: no LSM confines the process (attr/current)")
	case o.LSM == "unconfined" || strings.HasPrefix(o.LSM, "unconfined "):
		add(AppArmorMissing, "LSM label unconfined")
	}
	for _, m := range o.HostMounts {
		msg := fmt.Sprintf("%s %s mounted rw at %s", m.FSType, m.Source, m.Dest)
		add(WritableHostPath, msg)
		if overSystemDir(m.Dest) {
			add(MountOverSystemDir, msg)
		}
	}
	fs = append(fs, checkContents(o.Contents, add)...)
	return fs
}

func checkContents(c Contents, add func(id, msg string)) []Finding {
	if len(c.Loaders) > 0 {
		add(ImageLoader, "loader "+strings.Join(c.Loaders, ", "))
	}
	if len(c.Shells) > 0 {
		add(ImageShell, "shell "+strings.Join(c.Shells, ", "))
	}
	if len(c.PackageManagers) > 0 {
		add(ImagePackageMgr, "package manager "+strings.Join(c.PackageManagers, ", "))
	}
	return nil
}

// ObserveAll reads every container /proc shows under procRoot; lookup
// (may be nil) names them from the runtimes' registry. Containers whose
// processes exit meanwhile are left out.
func ObserveAll(procRoot string, lookup func(id string) *container.Info) ([]*Observed, error) {
	procs, err := container.ScanProcs(procRoot)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(procs))
	for id := range procs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var out []*Observed
	for _, id := range ids {
		o, err := Observe(procRoot, id, int64(procs[id].Pid))
		if err != nil {
			continue // exited, or still starting
		}
		if lookup != nil {
			if i := lookup(id); i != nil {
				o.Name, o.Image, o.Runtime = i.Name, i.Image, i.Runtime
			}
		}
		out = append(out, o)
	}
	SharePIDs(out)
	return out, nil
}
