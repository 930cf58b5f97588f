package enginetest

import "syscall"

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
			panic("enginetest: unknown capability " + n)
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

// socketDomains maps the address families tests use to the kernel's numbers.
var socketDomains = map[string]uint16{
	"AF_UNIX": syscall.AF_UNIX, "AF_INET": syscall.AF_INET, "AF_INET6": syscall.AF_INET6,
	"AF_NETLINK": syscall.AF_NETLINK, "AF_PACKET": syscall.AF_PACKET,
}

// ptraceRequests maps ptrace requests to the kernel's numbers.
var ptraceRequests = map[string]uint64{
	"PTRACE_TRACEME": 0, "PTRACE_PEEKTEXT": 1, "PTRACE_PEEKDATA": 2, "PTRACE_PEEKUSR": 3,
	"PTRACE_POKETEXT": 4, "PTRACE_POKEDATA": 5, "PTRACE_POKEUSR": 6, "PTRACE_CONT": 7,
	"PTRACE_KILL": 8, "PTRACE_SINGLESTEP": 9, "PTRACE_GETREGS": 12, "PTRACE_SETREGS": 13,
	"PTRACE_ATTACH": 16, "PTRACE_DETACH": 17, "PTRACE_SYSCALL": 24,
	"PTRACE_SETOPTIONS": 0x4200, "PTRACE_SEIZE": 0x4206, "PTRACE_INTERRUPT": 0x4207,
}
