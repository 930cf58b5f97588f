package event

import (
	"strconv"
	"strings"
	"sync"
)

// flagName pairs a bit with the name Falco prints for it.
type flagName struct {
	bit  uint64
	name string
}

// openFlagNames are the kernel's O_* bits in the order Falco prints them;
// the access mode (O_RDONLY, O_WRONLY, O_RDWR) goes where accessMode is.
var openFlagNames = []flagName{
	{0o100000, "O_LARGEFILE"}, {0o200000, "O_DIRECTORY"}, {0o40000, "O_DIRECT"},
	{0o1000, "O_TRUNC"}, {0o4000000, "O_SYNC"}, {0o4000, "O_NONBLOCK"}, {0o200, "O_EXCL"},
	{0o10000, "O_DSYNC"}, {0o2000, "O_APPEND"}, {0o100, "O_CREAT"}, {accessMode, ""},
	{0o2000000, "O_CLOEXEC"}, {0o20000000, "O_TMPFILE"}, {0o400000, "O_NOFOLLOW"},
	{0o1000000, "O_NOATIME"}, {0o10000000, "O_PATH"},
}

// accessMode marks the access mode's place in openFlagNames.
const accessMode = 1 << 40

var openFlagCache sync.Map

// OpenFlagsText renders open(2) flags as Falco does: access mode and the set
// bits joined by '|' (O_TRUNC|O_CREAT|O_WRONLY). Results are cached: a
// machine uses few distinct flag sets.
func OpenFlagsText(flags uint32) string {
	if v, ok := openFlagCache.Load(flags); ok {
		return v.(string)
	}
	var parts []string
	for _, f := range openFlagNames {
		switch {
		case f.bit == accessMode:
			parts = append(parts, [...]string{"O_RDONLY", "O_WRONLY", "O_RDWR", "O_RDWR"}[flags&3])
		case uint64(flags)&f.bit == f.bit:
			parts = append(parts, f.name)
		}
	}
	s := strings.Join(parts, "|")
	openFlagCache.Store(flags, s)
	return s
}

// BitsText renders a bit set with the given names, or "0" when empty.
func bitsText(v uint64, names []flagName) string {
	var parts []string
	for _, f := range names {
		if v&f.bit == f.bit && f.bit != 0 {
			parts = append(parts, f.name)
		}
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, "|")
}

var protNames = []flagName{{1, "PROT_READ"}, {2, "PROT_WRITE"}, {4, "PROT_EXEC"}}

// ProtText renders mmap/mprotect protection bits.
func ProtText(prot uint64) string {
	if prot == 0 {
		return "PROT_NONE"
	}
	return bitsText(prot, protNames)
}

var mmapFlagNames = []flagName{
	{0x01, "MAP_SHARED"}, {0x02, "MAP_PRIVATE"}, {0x10, "MAP_FIXED"}, {0x20, "MAP_ANONYMOUS"},
	{0x100, "MAP_GROWSDOWN"}, {0x800, "MAP_DENYWRITE"}, {0x1000, "MAP_EXECUTABLE"},
	{0x2000, "MAP_LOCKED"}, {0x4000, "MAP_NORESERVE"}, {0x8000, "MAP_POPULATE"},
	{0x10000, "MAP_NONBLOCK"}, {0x20000, "MAP_STACK"}, {0x40000, "MAP_HUGETLB"},
}

// MmapFlagsText renders mmap flags.
func MmapFlagsText(flags uint64) string { return bitsText(flags, mmapFlagNames) }

var ptraceRequests = map[uint64]string{
	0: "PTRACE_TRACEME", 1: "PTRACE_PEEKTEXT", 2: "PTRACE_PEEKDATA", 3: "PTRACE_PEEKUSR",
	4: "PTRACE_POKETEXT", 5: "PTRACE_POKEDATA", 6: "PTRACE_POKEUSR", 7: "PTRACE_CONT",
	8: "PTRACE_KILL", 9: "PTRACE_SINGLESTEP", 12: "PTRACE_GETREGS", 13: "PTRACE_SETREGS",
	14: "PTRACE_GETFPREGS", 15: "PTRACE_SETFPREGS", 16: "PTRACE_ATTACH", 17: "PTRACE_DETACH",
	18: "PTRACE_GETFPXREGS", 19: "PTRACE_SETFPXREGS", 24: "PTRACE_SYSCALL",
	0x4200: "PTRACE_SETOPTIONS", 0x4201: "PTRACE_GETEVENTMSG", 0x4202: "PTRACE_GETSIGINFO",
	0x4203: "PTRACE_SETSIGINFO", 0x4204: "PTRACE_GETREGSET", 0x4205: "PTRACE_SETREGSET",
	0x4206: "PTRACE_SEIZE", 0x4207: "PTRACE_INTERRUPT", 0x4208: "PTRACE_LISTEN",
	0x4209: "PTRACE_PEEKSIGINFO",
}

// PtraceRequestText names a ptrace request.
func PtraceRequestText(req uint64) string {
	if n, ok := ptraceRequests[req]; ok {
		return n
	}
	return strconv.FormatUint(req, 10)
}

var socketFamilies = map[uint64]string{
	0: "AF_UNSPEC", 1: "AF_UNIX", 2: "AF_INET", 3: "AF_AX25", 4: "AF_IPX", 5: "AF_APPLETALK",
	6: "AF_NETROM", 7: "AF_BRIDGE", 8: "AF_ATMPVC", 9: "AF_X25", 10: "AF_INET6", 11: "AF_ROSE",
	12: "AF_DECnet", 13: "AF_NETBEUI", 14: "AF_SECURITY", 15: "AF_KEY", 16: "AF_NETLINK",
	17: "AF_PACKET", 18: "AF_ASH", 19: "AF_ECONET", 20: "AF_ATMSVC", 21: "AF_RDS", 22: "AF_SNA",
	23: "AF_IRDA", 24: "AF_PPPOX", 25: "AF_WANPIPE", 26: "AF_LLC", 27: "AF_IB", 28: "AF_MPLS",
	29: "AF_CAN", 30: "AF_TIPC", 31: "AF_BLUETOOTH", 32: "AF_IUCV", 33: "AF_RXRPC", 34: "AF_ISDN",
	35: "AF_PHONET", 36: "AF_IEEE802154", 37: "AF_CAIF", 38: "AF_ALG", 39: "AF_NFC", 40: "AF_VSOCK",
	41: "AF_KCM", 42: "AF_QIPCRTR", 43: "AF_SMC", 44: "AF_XDP",
}

// SocketFamilyText names a socket address family (socket's domain).
func SocketFamilyText(f uint64) string {
	if n, ok := socketFamilies[f]; ok {
		return n
	}
	return strconv.FormatUint(f, 10)
}

var signalNames = map[uint64]string{
	1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS",
	8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2", 13: "SIGPIPE",
	14: "SIGALRM", 15: "SIGTERM", 16: "SIGSTKFLT", 17: "SIGCHLD", 18: "SIGCONT", 19: "SIGSTOP",
	20: "SIGTSTP", 21: "SIGTTIN", 22: "SIGTTOU", 23: "SIGURG", 24: "SIGXCPU", 25: "SIGXFSZ",
	26: "SIGVTALRM", 27: "SIGPROF", 28: "SIGWINCH", 29: "SIGIO", 30: "SIGPWR", 31: "SIGSYS",
}

// SignalText names a signal.
func SignalText(sig uint64) string {
	if n, ok := signalNames[sig]; ok {
		return n
	}
	return strconv.FormatUint(sig, 10)
}

// FDText renders an fd argument: AT_FDCWD for -100, else the number.
func FDText(fd int64) string {
	if fd == -100 {
		return "AT_FDCWD"
	}
	return strconv.FormatInt(fd, 10)
}
