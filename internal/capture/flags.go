package capture

// flagName is one named value of a flags or enum parameter.
type flagName struct {
	name  string
	value uint32
}

// Flag tables in the order libsinsp renders them: when a value matches an
// entry exactly, that name alone is printed; otherwise every entry whose
// bits are all set is printed, in table order, and its bits are consumed
// (so O_RDWR is not also printed as O_WRONLY|O_RDONLY).
var (
	socketFamilies = []flagName{
		{"AF_NFC", 39}, {"AF_ALG", 38}, {"AF_CAIF", 37}, {"AF_IEEE802154", 36}, {"AF_PHONET", 35},
		{"AF_ISDN", 34}, {"AF_RXRPC", 33}, {"AF_IUCV", 32}, {"AF_BLUETOOTH", 31}, {"AF_TIPC", 30},
		{"AF_CAN", 29}, {"AF_LLC", 26}, {"AF_WANPIPE", 25}, {"AF_PPPOX", 24}, {"AF_IRDA", 23},
		{"AF_SNA", 22}, {"AF_RDS", 21}, {"AF_ATMSVC", 20}, {"AF_ECONET", 19}, {"AF_ASH", 18},
		{"AF_PACKET", 17}, {"AF_ROUTE", 16}, {"AF_NETLINK", 16}, {"AF_KEY", 15}, {"AF_SECURITY", 14},
		{"AF_NETBEUI", 13}, {"AF_DECnet", 12}, {"AF_ROSE", 11}, {"AF_INET6", 10}, {"AF_X25", 9},
		{"AF_ATMPVC", 8}, {"AF_BRIDGE", 7}, {"AF_NETROM", 6}, {"AF_APPLETALK", 5}, {"AF_IPX", 4},
		{"AF_AX25", 3}, {"AF_INET", 2}, {"AF_LOCAL", 1}, {"AF_UNIX", 1}, {"AF_UNSPEC", 0},
	}
	fileFlags = []flagName{
		{"O_LARGEFILE", ppmOLargefile}, {"O_DIRECTORY", ppmODirectory}, {"O_DIRECT", ppmODirect},
		{"O_TRUNC", ppmOTrunc}, {"O_SYNC", ppmOSync}, {"O_NONBLOCK", ppmONonblock}, {"O_EXCL", ppmOExcl},
		{"O_DSYNC", ppmODsync}, {"O_APPEND", ppmOAppend}, {"O_CREAT", ppmOCreat}, {"O_RDWR", ppmORdwr},
		{"O_WRONLY", ppmOWronly}, {"O_RDONLY", ppmORdonly}, {"O_CLOEXEC", ppmOCloexec}, {"O_NONE", 0},
		{"O_TMPFILE", ppmOTmpfile}, {"O_F_CREATED", ppmOFCreated},
	}
	flockFlags = []flagName{{"LOCK_SH", 1}, {"LOCK_EX", 2}, {"LOCK_NB", 4}, {"LOCK_UN", 8}, {"LOCK_NONE", 0}}
	cloneFlags = []flagName{
		{"CLONE_FILES", 1 << 0}, {"CLONE_FS", 1 << 1}, {"CLONE_IO", 1 << 2}, {"CLONE_NEWIPC", 1 << 3},
		{"CLONE_NEWNET", 1 << 4}, {"CLONE_NEWNS", 1 << 5}, {"CLONE_NEWPID", 1 << 6}, {"CLONE_NEWUTS", 1 << 7},
		{"CLONE_PARENT", 1 << 8}, {"CLONE_PARENT_SETTID", 1 << 9}, {"CLONE_PTRACE", 1 << 10},
		{"CLONE_SIGHAND", 1 << 11}, {"CLONE_SYSVSEM", 1 << 12}, {"CLONE_THREAD", ppmCloneThread},
		{"CLONE_UNTRACED", 1 << 14}, {"CLONE_VM", 1 << 15}, {"CLONE_INVERTED", 1 << 16},
		{"NAME_CHANGED", 1 << 17}, {"CLOSED", 1 << 18}, {"CLONE_NEWUSER", 1 << 20},
		{"CLONE_CHILD_CLEARTID", 1 << 23}, {"CLONE_CHILD_SETTID", 1 << 24}, {"CLONE_SETTLS", 1 << 25},
		{"CLONE_STOPPED", 1 << 26}, {"CLONE_VFORK", 1 << 27}, {"CLONE_NEWCGROUP", 1 << 28},
	}
	futexOps = []flagName{
		{"FUTEX_CLOCK_REALTIME", 256}, {"FUTEX_PRIVATE_FLAG", 128}, {"FUTEX_CMP_REQUEUE_PI", 12},
		{"FUTEX_WAIT_REQUEUE_PI", 11}, {"FUTEX_WAKE_BITSET", 10}, {"FUTEX_WAIT_BITSET", 9},
		{"FUTEX_TRYLOCK_PI", 8}, {"FUTEX_UNLOCK_PI", 7}, {"FUTEX_LOCK_PI", 6}, {"FUTEX_WAKE_OP", 5},
		{"FUTEX_CMP_REQUEUE", 4}, {"FUTEX_REQUEUE", 3}, {"FUTEX_FD", 2}, {"FUTEX_WAKE", 1}, {"FUTEX_WAIT", 0},
	}
	mountFlags = []flagName{
		{"RDONLY", 1 << 0}, {"NOSUID", 1 << 1}, {"NODEV", 1 << 2}, {"NOEXEC", 1 << 3},
		{"SYNCHRONOUS", 1 << 4}, {"REMOUNT", 1 << 5}, {"MANDLOCK", 1 << 6}, {"DIRSYNC", 1 << 7},
		{"NOATIME", 1 << 10}, {"NODIRATIME", 1 << 11}, {"BIND", 1 << 12}, {"MOVE", 1 << 13},
		{"REC", 1 << 14}, {"SILENT", 1 << 15}, {"POSIXACL", 1 << 16}, {"UNBINDABLE", 1 << 17},
		{"PRIVATE", 1 << 18}, {"SLAVE", 1 << 19}, {"SHARED", 1 << 20}, {"RELATIME", 1 << 21},
		{"KERNMOUNT", 1 << 22}, {"I_VERSION", 1 << 23}, {"STRICTATIME", 1 << 24}, {"LAZYTIME", 1 << 25},
		{"NOSEC", 1 << 28}, {"BORN", 1 << 29}, {"ACTIVE", 1 << 30}, {"NOUSER", 1 << 31},
	}
	umountFlags  = []flagName{{"FORCE", 1}, {"DETACH", 2}, {"EXPIRE", 4}, {"NOFOLLOW", 8}}
	lseekWhence  = []flagName{{"SEEK_END", 2}, {"SEEK_CUR", 1}, {"SEEK_SET", 0}}
	shutdownHow  = []flagName{{"SHUT_RDWR", 2}, {"SHUT_WR", 1}, {"SHUT_RD", 0}}
	rlimitNames  = []flagName{{"RLIMIT_UNKNOWN", 255}, {"RLIMIT_RTTIME", 15}, {"RLIMIT_RTPRIO", 14}, {"RLIMIT_NICE", 13}, {"RLIMIT_MSGQUEUE", 12}, {"RLIMIT_SIGPENDING", 11}, {"RLIMIT_LOCKS", 10}, {"RLIMIT_AS", 9}, {"RLIMIT_MEMLOCK", 8}, {"RLIMIT_NOFILE", 7}, {"RLIMIT_NPROC", 6}, {"RLIMIT_RSS", 5}, {"RLIMIT_CORE", 4}, {"RLIMIT_STACK", 3}, {"RLIMIT_DATA", 2}, {"RLIMIT_FSIZE", 1}, {"RLIMIT_CPU", 0}}
	fcntlCmds    = []flagName{{"F_GETPIPE_SZ", 29}, {"F_SETPIPE_SZ", 28}, {"F_NOTIFY", 27}, {"F_DUPFD_CLOEXEC", 26}, {"F_CANCELLK", 25}, {"F_GETLEASE", 24}, {"F_SETLEASE", 23}, {"F_GETOWN_EX", 22}, {"F_SETOWN_EX", 21}, {"F_GETSIG", 15}, {"F_SETSIG", 13}, {"F_GETOWN", 12}, {"F_SETOWN", 10}, {"F_SETLKW", 9}, {"F_SETLK", 8}, {"F_GETLK", 6}, {"F_SETFL", 5}, {"F_GETFL", 4}, {"F_SETFD", 3}, {"F_GETFD", 2}, {"F_DUPFD", 1}, {"F_OFD_GETLK", 30}, {"F_OFD_SETLK", 31}, {"F_OFD_SETLKW", 32}, {"UNKNOWN", 0}}
	sockoptLevel = []flagName{{"SOL_SOCKET", 1}, {"SOL_TCP", 2}, {"UNKNOWN", 0}}
	sockoptNames = []flagName{
		{"SO_COOKIE", 53}, {"SO_MEMINFO", 52}, {"SO_PEERGROUPS", 51}, {"SO_ATTACH_BPF", 50}, {"SO_INCOMING_CPU", 49},
		{"SO_BPF_EXTENSIONS", 48}, {"SO_MAX_PACING_RATE", 47}, {"SO_BUSY_POLL", 46}, {"SO_SELECT_ERR_QUEUE", 45},
		{"SO_LOCK_FILTER", 44}, {"SO_NOFCS", 43}, {"SO_PEEK_OFF", 42}, {"SO_WIFI_STATUS", 41}, {"SO_RXQ_OVFL", 40},
		{"SO_DOMAIN", 39}, {"SO_PROTOCOL", 38}, {"SO_TIMESTAMPING", 37}, {"SO_MARK", 36}, {"SO_TIMESTAMPNS", 35},
		{"SO_PASSSEC", 34}, {"SO_PEERSEC", 31}, {"SO_ACCEPTCONN", 30}, {"SO_TIMESTAMP", 29}, {"SO_PEERNAME", 28},
		{"SO_DETACH_FILTER", 27}, {"SO_ATTACH_FILTER", 26}, {"SO_BINDTODEVICE", 25},
		{"SO_SECURITY_ENCRYPTION_NETWORK", 24}, {"SO_SECURITY_ENCRYPTION_TRANSPORT", 23},
		{"SO_SECURITY_AUTHENTICATION", 22}, {"SO_SNDTIMEO", 21}, {"SO_RCVTIMEO", 20}, {"SO_SNDLOWAT", 19},
		{"SO_RCVLOWAT", 18}, {"SO_PEERCRED", 17}, {"SO_PASSCRED", 16}, {"SO_REUSEPORT", 15}, {"SO_BSDCOMPAT", 14},
		{"SO_LINGER", 13}, {"SO_PRIORITY", 12}, {"SO_NO_CHECK", 11}, {"SO_OOBINLINE", 10}, {"SO_KEEPALIVE", 9},
		{"SO_RCVBUFFORCE", 33}, {"SO_SNDBUFFORCE", 32}, {"SO_RCVBUF", 8}, {"SO_SNDBUF", 7}, {"SO_BROADCAST", 6},
		{"SO_DONTROUTE", 5}, {"SO_ERROR", 4}, {"SO_TYPE", 3}, {"SO_REUSEADDR", 2}, {"SO_DEBUG", 1}, {"UNKNOWN", 0},
	}
	ptraceRequests = []flagName{
		{"PTRACE_SINGLEBLOCK", 38}, {"PTRACE_SYSEMU_SINGLESTEP", 37}, {"PTRACE_SYSEMU", 36},
		{"PTRACE_ARCH_PRCTL", 35}, {"PTRACE_SET_THREAD_AREA", 34}, {"PTRACE_GET_THREAD_AREA", 33},
		{"PTRACE_OLDSETOPTIONS", 32}, {"PTRACE_SETFPXREGS", 31}, {"PTRACE_GETFPXREGS", 30},
		{"PTRACE_SETFPREGS", 29}, {"PTRACE_GETFPREGS", 28}, {"PTRACE_SETREGS", 27}, {"PTRACE_GETREGS", 26},
		{"PTRACE_SETSIGMASK", 25}, {"PTRACE_GETSIGMASK", 24}, {"PTRACE_PEEKSIGINFO", 23}, {"PTRACE_LISTEN", 22},
		{"PTRACE_INTERRUPT", 21}, {"PTRACE_SEIZE", 20}, {"PTRACE_SETREGSET", 19}, {"PTRACE_GETREGSET", 18},
		{"PTRACE_SETSIGINFO", 17}, {"PTRACE_GETSIGINFO", 16}, {"PTRACE_GETEVENTMSG", 15},
		{"PTRACE_SETOPTIONS", 14}, {"PTRACE_SYSCALL", 13}, {"PTRACE_DETACH", 12}, {"PTRACE_ATTACH", 11},
		{"PTRACE_SINGLESTEP", 10}, {"PTRACE_KILL", 9}, {"PTRACE_CONT", 8}, {"PTRACE_POKEUSR", 7},
		{"PTRACE_POKEDATA", 6}, {"PTRACE_POKETEXT", 5}, {"PTRACE_PEEKUSR", 4}, {"PTRACE_PEEKDATA", 3},
		{"PTRACE_PEEKTEXT", 2}, {"PTRACE_TRACEME", 1}, {"PTRACE_UNKNOWN", 0},
	}
	protFlags = []flagName{
		{"PROT_READ", 1 << 0}, {"PROT_WRITE", 1 << 1}, {"PROT_EXEC", 1 << 2}, {"PROT_SEM", 1 << 3},
		{"PROT_GROWSDOWN", 1 << 4}, {"PROT_GROWSUP", 1 << 5}, {"PROT_SAO", 1 << 6}, {"PROT_NONE", 0},
	}
	mmapFlags = []flagName{
		{"MAP_SHARED", 1 << 0}, {"MAP_PRIVATE", 1 << 1}, {"MAP_FIXED", 1 << 2}, {"MAP_ANONYMOUS", 1 << 3},
		{"MAP_32BIT", 1 << 4}, {"MAP_RENAME", 1 << 5}, {"MAP_NORESERVE", 1 << 6}, {"MAP_POPULATE", 1 << 7},
		{"MAP_NONBLOCK", 1 << 8}, {"MAP_GROWSDOWN", 1 << 9}, {"MAP_DENYWRITE", 1 << 10},
		{"MAP_EXECUTABLE", 1 << 11}, {"MAP_INHERIT", 1 << 12}, {"MAP_FILE", 1 << 13}, {"MAP_LOCKED", 1 << 14},
	}
	accessFlags    = []flagName{{"F_OK", 0}, {"R_OK", 4}, {"W_OK", 2}, {"X_OK", 1}}
	unlinkatFlags  = []flagName{{"AT_REMOVEDIR", 0x200}}
	linkatFlags    = []flagName{{"AT_SYMLINK_FOLLOW", 0x400}, {"AT_EMPTY_PATH", 0x1000}}
	execveFlags    = []flagName{{"EXE_WRITABLE", 1 << 0}, {"EXE_UPPER_LAYER", 1 << 1}, {"EXE_FROM_MEMFD", 1 << 2}, {"EXE_LOWER_LAYER", 1 << 3}}
	renameat2Flags = []flagName{{"RENAME_NOREPLACE", 1 << 0}, {"RENAME_EXCHANGE", 1 << 1}, {"RENAME_WHITEOUT", 1 << 2}}
	modeBits       = []flagName{
		{"S_IXOTH", 1 << 0}, {"S_IWOTH", 1 << 1}, {"S_IROTH", 1 << 2}, {"S_IXGRP", 1 << 3},
		{"S_IWGRP", 1 << 4}, {"S_IRGRP", 1 << 5}, {"S_IXUSR", 1 << 6}, {"S_IWUSR", 1 << 7},
		{"S_IRUSR", 1 << 8}, {"S_ISVTX", 1 << 9}, {"S_ISGID", 1 << 10}, {"S_ISUID", 1 << 11},
	}
)

// PPM_O_* open flags: the capture's own encoding, independent of the
// architecture. O_RDONLY is a bit of its own here, unlike in Linux.
const (
	ppmORdonly    = 1 << 0
	ppmOWronly    = 1 << 1
	ppmORdwr      = ppmORdonly | ppmOWronly
	ppmOCreat     = 1 << 2
	ppmOAppend    = 1 << 3
	ppmODsync     = 1 << 4
	ppmOExcl      = 1 << 5
	ppmONonblock  = 1 << 6
	ppmOSync      = 1 << 7
	ppmOTrunc     = 1 << 8
	ppmODirect    = 1 << 9
	ppmODirectory = 1 << 10
	ppmOLargefile = 1 << 11
	ppmOCloexec   = 1 << 12
	ppmOTmpfile   = 1 << 13
	ppmOFCreated  = 1 << 14
	ppmFDUpper    = 1 << 15
	ppmFDLower    = 1 << 16

	ppmCloneThread = 1 << 13
)

// OpenUpperLayer and OpenLowerLayer are the bits of an open's flags
// parameter that say on which overlayfs layer the opened file lives.
const (
	OpenUpperLayer = ppmFDUpper
	OpenLowerLayer = ppmFDLower
)

// Linux x86-64 open flags, for OpenFlagsToKernel.
const (
	oWronly    = 0x1
	oRdwr      = 0x2
	oCreat     = 0x40
	oExcl      = 0x80
	oTrunc     = 0x200
	oAppend    = 0x400
	oNonblock  = 0x800
	oDsync     = 0x1000
	oDirect    = 0x4000
	oLargefile = 0x8000
	oDirectory = 0x10000
	oCloexec   = 0x80000
	oSync      = 0x101000
	oTmpfile   = 0x410000
)

// OpenFlagsToKernel converts the capture's PPM_O_* open flags to the Linux
// O_* values the live sensor reports, which is what truesight's events
// carry as the numeric value of an open's flags.
func OpenFlagsToKernel(f uint32) uint32 {
	var k uint32
	switch f & ppmORdwr {
	case ppmOWronly:
		k |= oWronly
	case ppmORdwr:
		k |= oRdwr
	}
	pairs := [...][2]uint32{
		{ppmOCreat, oCreat}, {ppmOExcl, oExcl}, {ppmOTrunc, oTrunc}, {ppmOAppend, oAppend},
		{ppmONonblock, oNonblock}, {ppmODsync, oDsync}, {ppmODirect, oDirect},
		{ppmOLargefile, oLargefile}, {ppmODirectory, oDirectory}, {ppmOCloexec, oCloexec},
		{ppmOSync, oSync}, {ppmOTmpfile, oTmpfile},
	}
	for _, p := range pairs {
		if f&p[0] != 0 {
			k |= p[1]
		}
	}
	return k
}

// appendFlags renders v with a table the way libsinsp does, and returns
// false when no name applies.
func appendFlags(dst []byte, table []flagName, v uint32) ([]byte, bool) {
	for _, f := range table {
		if f.value == v {
			return append(dst, f.name...), true
		}
	}
	rest := v
	n := len(dst)
	for _, f := range table {
		if f.value != 0 && rest&f.value == f.value {
			if len(dst) > n {
				dst = append(dst, '|')
			}
			dst = append(dst, f.name...)
			rest &^= f.value
		}
	}
	return dst, len(dst) > n
}

// flagTableFor picks the name table of a flags parameter from the event
// type and the parameter's name.
func flagTableFor(event, param string) []flagName {
	switch param {
	case "flags":
		switch event {
		case "open", "openat", "openat2", "creat", "open_by_handle_at", "task_file_regular":
			return fileFlags
		case "clone", "fork", "vfork", "clone3":
			return cloneFlags
		case "mmap", "mmap2":
			return mmapFlags
		case "mount":
			return mountFlags
		case "umount", "umount2":
			return umountFlags
		case "unlinkat":
			return unlinkatFlags
		case "linkat":
			return linkatFlags
		case "execve", "execveat":
			return execveFlags
		case "renameat2":
			return renameat2Flags
		}
	case "creat_flags":
		return fileFlags
	case "domain":
		return socketFamilies
	case "request":
		if event == "ptrace" {
			return ptraceRequests
		}
	case "prot":
		return protFlags
	case "operation":
		if event == "flock" {
			return flockFlags
		}
	case "op":
		if event == "futex" {
			return futexOps
		}
	case "whence":
		return lseekWhence
	case "how":
		return shutdownHow
	case "resource":
		return rlimitNames
	case "cmd":
		if event == "fcntl" {
			return fcntlCmds
		}
	case "level":
		return sockoptLevel
	case "optname":
		return sockoptNames
	case "mode":
		if event == "access" {
			return accessFlags
		}
	}
	return nil
}
