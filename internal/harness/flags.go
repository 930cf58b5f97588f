package harness

import (
	"strconv"
	"strings"
	"syscall"
)

// Open flags as the kernel encodes them (amd64), for Open's flags argument.
const (
	ORdOnly    = syscall.O_RDONLY
	OWrOnly    = syscall.O_WRONLY
	ORdWr      = syscall.O_RDWR
	OCreat     = syscall.O_CREAT
	OExcl      = syscall.O_EXCL
	OTrunc     = syscall.O_TRUNC
	OAppend    = syscall.O_APPEND
	ONonblock  = syscall.O_NONBLOCK
	ODirectory = syscall.O_DIRECTORY
	OCloexec   = syscall.O_CLOEXEC
)

// openFlagNames lists open flags in the order of Falco's flag table, which
// is the order their names appear in evt.arg.flags.
var openFlagNames = []struct {
	bit  int
	name string
}{
	{syscall.O_DIRECTORY, "O_DIRECTORY"},
	{syscall.O_DIRECT, "O_DIRECT"},
	{syscall.O_TRUNC, "O_TRUNC"},
	{syscall.O_NONBLOCK, "O_NONBLOCK"},
	{syscall.O_EXCL, "O_EXCL"},
	{syscall.O_APPEND, "O_APPEND"},
	{syscall.O_CREAT, "O_CREAT"},
}

// OpenFlagsText renders kernel open flags as Falco's evt.arg.flags does,
// e.g. O_WRONLY|O_CREAT|O_TRUNC as "O_TRUNC|O_CREAT|O_WRONLY". Sync and
// large-file flags are not rendered.
func OpenFlagsText(flags int) string {
	var names []string
	for _, f := range openFlagNames {
		if flags&f.bit != 0 {
			names = append(names, f.name)
		}
	}
	switch flags & syscall.O_ACCMODE {
	case syscall.O_RDWR:
		names = append(names, "O_RDWR")
	case syscall.O_WRONLY:
		names = append(names, "O_WRONLY")
	default:
		names = append(names, "O_RDONLY")
	}
	if flags&syscall.O_CLOEXEC != 0 {
		names = append(names, "O_CLOEXEC")
	}
	return strings.Join(names, "|")
}

// ExecFlagsText renders the execve exit's flags parameter as Falco does:
// the names of the set flags in table order, or the number 0 when none is.
func ExecFlagsText(writable, upper, memfd, lower bool) string {
	var names []string
	for _, f := range []struct {
		set  bool
		name string
	}{{writable, "EXE_WRITABLE"}, {upper, "EXE_UPPER_LAYER"}, {memfd, "EXE_FROM_MEMFD"}, {lower, "EXE_LOWER_LAYER"}} {
		if f.set {
			names = append(names, f.name)
		}
	}
	if len(names) == 0 {
		return "0"
	}
	return strings.Join(names, "|")
}

// capNames are the Linux capabilities by bit number.
var capNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
	"CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
	"CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

// allCaps is every capability the kernel knows (CAP_LAST_CAP 40).
const allCaps = 1<<41 - 1

// dockerDefaultCaps is what docker grants a container's root by default.
var dockerDefaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// DockerDefaultCaps returns docker's default capability names, to extend
// with --cap-add in Caps.
func DockerDefaultCaps() []string { return append([]string(nil), dockerDefaultCaps...) }

func capSet(names []string) uint64 {
	var set uint64
	for _, n := range names {
		i := indexOf(capNames, n)
		if i < 0 {
			panic("harness: unknown capability " + n)
		}
		set |= 1 << uint(i)
	}
	return set
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// socketDomains maps the address families tests use to their numbers.
var socketDomains = map[string]int64{
	"AF_UNIX": 1, "AF_INET": 2, "AF_INET6": 10, "AF_NETLINK": 16, "AF_PACKET": 17,
}

// ptraceRequests maps ptrace requests to the kernel's numbers.
var ptraceRequests = map[string]int64{
	"PTRACE_TRACEME": 0, "PTRACE_PEEKTEXT": 1, "PTRACE_PEEKDATA": 2, "PTRACE_PEEKUSR": 3,
	"PTRACE_POKETEXT": 4, "PTRACE_POKEDATA": 5, "PTRACE_POKEUSR": 6, "PTRACE_CONT": 7,
	"PTRACE_KILL": 8, "PTRACE_SINGLESTEP": 9, "PTRACE_GETREGS": 12, "PTRACE_SETREGS": 13,
	"PTRACE_ATTACH": 16, "PTRACE_DETACH": 17, "PTRACE_SYSCALL": 24,
	"PTRACE_SETOPTIONS": 0x4200, "PTRACE_SEIZE": 0x4206, "PTRACE_INTERRUPT": 0x4207,
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
