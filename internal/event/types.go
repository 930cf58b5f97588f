package event

// Type is an event type, named as Falco names it (evt.type). The zero value
// is Unknown. Types are small integers so the rule index can be an array.
type Type uint16

// Unknown is the type of an event whose kind we could not name.
const Unknown Type = 0

// typeNames lists every event type name of the scap event table, in the
// table's order, after the reserved Unknown slot. Detector findings use
// names of their own at the end.
var typeNames = []string{
	"unknown",
	"syscall",
	"open",
	"close",
	"read",
	"write",
	"brk",
	"execve",
	"clone",
	"procexit",
	"socket",
	"bind",
	"connect",
	"listen",
	"accept",
	"send",
	"sendto",
	"recv",
	"recvfrom",
	"shutdown",
	"getsockname",
	"getpeername",
	"socketpair",
	"setsockopt",
	"getsockopt",
	"sendmsg",
	"sendmmsg",
	"recvmsg",
	"recvmmsg",
	"creat",
	"pipe",
	"eventfd",
	"futex",
	"stat",
	"lstat",
	"fstat",
	"stat64",
	"lstat64",
	"fstat64",
	"epoll_wait",
	"poll",
	"select",
	"lseek",
	"llseek",
	"ioctl",
	"getcwd",
	"chdir",
	"fchdir",
	"mkdir",
	"rmdir",
	"openat",
	"link",
	"linkat",
	"unlink",
	"unlinkat",
	"pread",
	"pwrite",
	"readv",
	"writev",
	"preadv",
	"pwritev",
	"dup",
	"signalfd",
	"kill",
	"tkill",
	"tgkill",
	"nanosleep",
	"timerfd_create",
	"inotify_init",
	"getrlimit",
	"setrlimit",
	"prlimit",
	"switch",
	"drop",
	"fcntl",
	"mmap",
	"mmap2",
	"munmap",
	"splice",
	"ptrace",
	"rename",
	"renameat",
	"symlink",
	"symlinkat",
	"fork",
	"vfork",
	"sendfile",
	"quotactl",
	"setresuid",
	"setresgid",
	"scapevent",
	"close_range",
	"setuid",
	"setgid",
	"getuid",
	"geteuid",
	"getgid",
	"getegid",
	"getresuid",
	"getresgid",
	"container",
	"signaldeliver",
	"procinfo",
	"getdents",
	"getdents64",
	"setns",
	"flock",
	"cpu_hotplug",
	"semop",
	"semctl",
	"ppoll",
	"mount",
	"umount",
	"k8s",
	"semget",
	"access",
	"chroot",
	"tracer",
	"mesos",
	"setsid",
	"notification",
	"unshare",
	"infra",
	"page_fault",
	"setpgid",
	"bpf",
	"seccomp",
	"mkdirat",
	"fchmodat",
	"chmod",
	"fchmod",
	"renameat2",
	"userfaultfd",
	"pluginevent",
	"openat2",
	"mprotect",
	"execveat",
	"copy_file_range",
	"clone3",
	"open_by_handle_at",
	"io_uring_setup",
	"io_uring_enter",
	"io_uring_register",
	"mlock",
	"munlock",
	"mlockall",
	"munlockall",
	"capset",
	"useradded",
	"userdeleted",
	"groupadded",
	"groupdeleted",
	"dup2",
	"dup3",
	"mlock2",
	"fsconfig",
	"epoll_create",
	"epoll_create1",
	"chown",
	"lchown",
	"fchown",
	"fchownat",
	"accept4",
	"umount2",
	"pipe2",
	"inotify_init1",
	"eventfd2",
	"signalfd4",
	"prctl",
	"asyncevent",
	"memfd_create",
	"pidfd_getfd",
	"pidfd_open",
	"init_module",
	"finit_module",
	"mknod",
	"mknodat",
	"newfstatat",
	"process_vm_readv",
	"process_vm_writev",
	"delete_module",
	"setreuid",
	"setregid",
	"task",
	"task_file_pipe",
	"task_file_memfd",
	"task_file_regular",
	"task_file_directory",
	"task_file_socket_inet",
	"task_file_socket_inet6",
	"task_file_socket_unix",
	"task_file_socket_netlink",
	"task_file_anon_inode",
	"keyctl",
	// Syscalls the scap table has no event for; captured live.
	"truncate",
	"ftruncate",
	// truesight detector findings (source "truesight").
	"hidden_process",
	"preload_config",
	"preload_env",
	"injected_library",
}

var typeByName = func() map[string]Type {
	m := make(map[string]Type, len(typeNames))
	for i, n := range typeNames {
		m[n] = Type(i)
	}
	return m
}()

// NumTypes is one past the largest Type value.
var NumTypes = len(typeNames)

// String returns the Falco name of the type.
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "unknown"
}

// TypeByName returns the type with the given Falco name.
func TypeByName(name string) (Type, bool) {
	t, ok := typeByName[name]
	return t, ok
}

// MustType returns the type with the given name and panics if there is
// none; for package-level tables of known names.
func MustType(name string) Type {
	t, ok := typeByName[name]
	if !ok {
		panic("event: unknown type " + name)
	}
	return t
}

// AllTypes returns every known type except Unknown.
func AllTypes() []Type {
	out := make([]Type, 0, len(typeNames)-1)
	for i := 1; i < len(typeNames); i++ {
		out = append(out, Type(i))
	}
	return out
}
