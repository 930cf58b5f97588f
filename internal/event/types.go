package event

import "slices"

// Type is an event type, named as Falco names it (evt.type). The zero value
// is Unknown. Types are small integers so the rule index can be an array.
type Type uint16

// Unknown is the type of an event whose kind we could not name.
const Unknown Type = 0

// tableNames lists every event type name of the scap event table, in the
// table's order, after the reserved Unknown slot, and the syscalls it has
// no event for that truesight captures with their own parameters.
var tableNames = []string{
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
}

// findingNames are the types of truesight's detector findings (source
// "truesight").
var findingNames = []string{"hidden_process", "preload_config", "preload_env", "injected_library", "posture", "enforce", "file_drift"}

// typeNames are all the type names, indexed by Type.
var typeNames = slices.Concat(tableNames, genericNames, findingNames)

// genericNames are the x86_64 syscalls the scap table has no event of
// their own for (Falco's generic events), so that a rule can name any of
// them (evt.type = clock_gettime): the sensor captures them for such a
// rule, and replay reads them from a capture's generic events.
// TestEverySyscallIsAnEventType keeps the list whole. A rule that does not
// constrain evt.type is not enough to capture them (as Falco, which leaves
// such high-volume syscalls out unless asked), though it is evaluated on
// them when they are captured.
var genericNames = []string{
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "pread64", "pwrite64",
	"sched_yield", "mremap", "msync", "mincore", "madvise", "shmget", "shmat",
	"shmctl", "pause", "getitimer", "alarm", "setitimer", "getpid", "exit",
	"wait4", "uname", "shmdt", "msgget", "msgsnd", "msgrcv", "msgctl", "fsync",
	"fdatasync", "readlink", "umask", "gettimeofday", "getrusage", "sysinfo",
	"times", "syslog", "getppid", "getpgrp", "getgroups", "setgroups",
	"getpgid", "setfsuid", "setfsgid", "getsid", "capget", "rt_sigpending",
	"rt_sigtimedwait", "rt_sigqueueinfo", "rt_sigsuspend", "sigaltstack",
	"utime", "uselib", "personality", "ustat", "statfs", "fstatfs", "sysfs",
	"getpriority", "setpriority", "sched_setparam", "sched_getparam",
	"sched_setscheduler", "sched_getscheduler", "sched_get_priority_max",
	"sched_get_priority_min", "sched_rr_get_interval", "vhangup", "modify_ldt",
	"pivot_root", "_sysctl", "arch_prctl", "adjtimex", "sync", "acct",
	"settimeofday", "swapon", "swapoff", "reboot", "sethostname",
	"setdomainname", "iopl", "ioperm", "create_module", "get_kernel_syms",
	"query_module", "nfsservctl", "getpmsg", "putpmsg", "afs_syscall",
	"tuxcall", "security", "gettid", "readahead", "setxattr", "lsetxattr",
	"fsetxattr", "getxattr", "lgetxattr", "fgetxattr", "listxattr",
	"llistxattr", "flistxattr", "removexattr", "lremovexattr", "fremovexattr",
	"time", "sched_setaffinity", "sched_getaffinity", "set_thread_area",
	"io_setup", "io_destroy", "io_getevents", "io_submit", "io_cancel",
	"get_thread_area", "lookup_dcookie", "epoll_ctl_old", "epoll_wait_old",
	"remap_file_pages", "set_tid_address", "restart_syscall", "semtimedop",
	"fadvise64", "timer_create", "timer_settime", "timer_gettime",
	"timer_getoverrun", "timer_delete", "clock_settime", "clock_gettime",
	"clock_getres", "clock_nanosleep", "exit_group", "epoll_ctl", "utimes",
	"vserver", "mbind", "set_mempolicy", "get_mempolicy", "mq_open",
	"mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify",
	"mq_getsetattr", "kexec_load", "waitid", "add_key", "request_key",
	"ioprio_set", "ioprio_get", "inotify_add_watch", "inotify_rm_watch",
	"migrate_pages", "futimesat", "readlinkat", "faccessat", "pselect6",
	"set_robust_list", "get_robust_list", "tee", "sync_file_range", "vmsplice",
	"move_pages", "utimensat", "epoll_pwait", "fallocate", "timerfd_settime",
	"timerfd_gettime", "rt_tgsigqueueinfo", "perf_event_open", "fanotify_init",
	"fanotify_mark", "prlimit64", "name_to_handle_at", "clock_adjtime",
	"syncfs", "getcpu", "kcmp", "sched_setattr", "sched_getattr", "getrandom",
	"kexec_file_load", "membarrier", "preadv2", "pwritev2", "pkey_mprotect",
	"pkey_alloc", "pkey_free", "statx", "io_pgetevents", "rseq",
	"pidfd_send_signal", "open_tree", "move_mount", "fsopen", "fsmount",
	"fspick", "faccessat2", "process_madvise", "epoll_pwait2", "mount_setattr",
	"quotactl_fd", "landlock_create_ruleset", "landlock_add_rule",
	"landlock_restrict_self", "memfd_secret", "process_mrelease", "futex_waitv",
	"set_mempolicy_home_node", "cachestat", "fchmodat2", "map_shadow_stack",
	"futex_wake", "futex_wait", "futex_requeue", "statmount", "listmount",
	"lsm_get_self_attr", "lsm_set_self_attr", "lsm_list_modules", "mseal",
	"setxattrat", "getxattrat", "listxattrat", "removexattrat",
	"open_tree_attr", "file_getattr", "file_setattr",
}

// genericStart and genericEnd bound the generic syscall types.
var (
	genericStart = Type(len(tableNames))
	genericEnd   = genericStart + Type(len(genericNames))
)

// Generic reports whether the type is a syscall without an event of its
// own in the scap table (see genericNames).
func (t Type) Generic() bool { return t >= genericStart && t < genericEnd }

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
