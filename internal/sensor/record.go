package sensor

import (
	"net/netip"
	"strings"
)

// Kind says which part of a Record holds the data.
type Kind uint8

// Record kinds, as the kernel tags them.
const (
	KindSyscall Kind = 1 // a syscall exit: Record.Syscall
	KindExec    Kind = 2 // sched_process_exec: Record.Process
	KindFork    Kind = 3 // sched_process_fork: Record.Process (the child)
	KindExit    Kind = 4 // sched_process_exit: Record.Process
	KindTask    Kind = 5 // one task of a Snapshot
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case KindSyscall:
		return "syscall"
	case KindExec:
		return "exec"
	case KindFork:
		return "fork"
	case KindExit:
		return "exit"
	case KindTask:
		return "task"
	}
	return "unknown"
}

// Record is one decoded ring buffer record. Sensor.Read and Decoder.Decode
// overwrite the Record they are given, so a reader can reuse one and
// allocate only for the strings a record carries; the strings and slices
// themselves are never reused, so a copy of a Record stays valid.
type Record struct {
	Kind      Kind
	Time      int64  // nanoseconds since the Unix epoch
	BootNS    uint64 // the kernel's boot-time clock, as recorded
	CPU       uint32
	Tid       uint32 // host thread id (for fork: the child)
	Tgid      uint32 // host thread-group id (for fork: the child)
	Truncated bool   // some fields did not fit and are missing or cut

	Syscall SyscallRecord // when Kind is KindSyscall
	Process ProcessRecord // when Kind is KindExec, KindFork, KindExit
}

// TaskIDs is who made a syscall, read at syscall exit.
type TaskIDs struct {
	PPid     uint32 // real parent's tgid
	UID      uint32
	GID      uint32
	EUID     uint32
	EGID     uint32
	LoginUID uint32 // 0xffffffff when unset
	MntNS    uint32 // mount namespace inode
	PidNS    uint32 // pid namespace inode
	CgroupID uint64 // cgroup v2 id
	Comm     string
}

// SyscallRecord is one syscall exit.
type SyscallRecord struct {
	Nr     int  // x86_64 syscall number (ia32 calls are remapped)
	RawNr  int  // the number the kernel saw
	Compat bool // an ia32 (int 0x80) call; Args are its 32-bit registers
	Ret    int64
	Args   [6]uint64
	Task   TaskIDs

	// Path holds the path arguments as the process passed them, in
	// argument order (rename: old, new; symlink: target, linkpath).
	Path [2]string
	// Dir is the resolved base directory of each relative Path: the dirfd's
	// directory, or the working directory.
	Dir [2]File
	// File is the file behind the returned fd (open, creat, dup, memfd),
	// the fd argument (ftruncate, fchmod, fchdir, finit_module), or the
	// file mapped executable (mmap, mprotect). Sockets are in Sock.
	File File
	// Cwd is the new working directory after a successful chdir/fchdir.
	Cwd File
	// Sock describes the socket behind the returned or argument fd.
	Sock Socket
	// Addr is the struct sockaddr the process passed (connect, bind,
	// sendto, sendmsg).
	Addr SockAddr
	// Str is a plain string argument (memfd_create's name, module
	// parameters).
	Str string
	// Struct holds the first bytes of a struct argument (clone3's
	// clone_args, openat2's open_how), StructLen of them.
	Struct    [64]byte
	StructLen int
	// Argv is a failed execve's argument vector, read from the caller.
	Argv []string
	// Data is the start of the I/O data of a read, write, send or receive
	// (at most Options.Snaplen bytes); DataLen is how many bytes the
	// syscall moved (its return value; for a failed write, how many it
	// asked to write). HasData says the record carries them: the sensor
	// copies data only when Options.Snaplen is set.
	Data    []byte
	DataLen int64
	HasData bool
	// FDs are the two fds a successful pipe, pipe2 or socketpair wrote
	// to the caller's int[2] (read end first for a pipe); HasFDs says the
	// record carries them. PipeIno is the inode of the first fd's file:
	// for pipe and pipe2 the pipe's inode (Falco's ino), 0 when unknown.
	FDs     [2]int64
	HasFDs  bool
	PipeIno uint64
	// Caps are the caller's capability sets at capset's exit, as its
	// credentials hold them (whether or not the call succeeded); HasCaps
	// says the record carries them.
	Caps    Caps
	HasCaps bool
}

// Caps are a task's capability sets, one bit per CAP_* number.
type Caps struct {
	Effective, Permitted, Inheritable uint64
}

// Name returns the x86_64 syscall name.
func (s *SyscallRecord) Name() string { return SyscallName(s.Nr) }

// Failed reports whether the syscall returned an error.
func (s *SyscallRecord) Failed() bool { return s.Ret < 0 && s.Ret > -4096 }

// FileFlags describe a File beyond its inode.
type FileFlags uint32

// File flags, as struct file_info.flags carries them.
const (
	FileOverlay       FileFlags = 0x1  // lives on overlayfs
	FileUpper         FileFlags = 0x2  // overlayfs: present in the upper (container) layer
	FileDeleted       FileFlags = 0x4  // no links left
	FileMemfd         FileFlags = 0x8  // a memfd_create file
	FilePathTruncated FileFlags = 0x10 // the path walk hit its limit; Path is a suffix
	FilePathDetached  FileFlags = 0x20 // the walk ended at a dentry cut off its tree
	FilePathNSRoot    FileFlags = 0x40 // the walk reached the mount namespace root
)

// File is a file as the kernel sees it.
type File struct {
	Valid bool
	// Path is absolute from the root of the mount namespace MntNS that
	// holds the file's mount: the path a process of that namespace with
	// an unchanged root would use. It is resolved by the kernel, so
	// /proc/<pid>/root/etc/x and ../../etc/x both come out as /etc/x with
	// the MntNS of the namespace they live in.
	Path      string
	Dev       uint32 // kernel dev_t: major<<20 | minor
	Ino       uint64
	MntNS     uint32 // mount namespace inode of the file's mount (0 for kernel-internal mounts)
	MntID     uint32
	OpenFlags uint32 // O_* flags of the open file
	FMode     uint32 // the kernel's FMODE_* bits of the open file
	Mode      uint32 // inode mode: type and permissions
	Nlink     uint32
	FSMagic   uint64 // super block magic (filesystem type)
	Ctime     int64  // inode change time, ns since the epoch
	Mtime     int64
	Flags     FileFlags
}

// Major returns the device's major number.
func (f *File) Major() uint32 { return f.Dev >> 20 }

// Minor returns the device's minor number.
func (f *File) Minor() uint32 { return f.Dev & 0xfffff }

// Socket is the kernel's view of a socket.
type Socket struct {
	Valid  bool
	Family uint16 // AF_*
	Type   uint16 // SOCK_*
	Proto  uint16 // IPPROTO_*
	State  uint8  // TCP_* state
	Local  netip.AddrPort
	Remote netip.AddrPort
	// LocalPath and PeerPath are unix socket addresses; abstract ones
	// start with "@".
	LocalPath string
	PeerPath  string
}

// SockAddr is a struct sockaddr passed by the process.
type SockAddr struct {
	Valid    bool
	Family   uint16
	AddrPort netip.AddrPort // AF_INET, AF_INET6
	Path     string         // AF_UNIX; abstract addresses start with "@"
}

// Namespaces are a task's namespace inodes.
type Namespaces struct {
	Mnt, Pid, Net, User, UTS, IPC, Cgroup uint32
}

// ProcessInfo describes a process at exec or in a snapshot.
type ProcessInfo struct {
	Tid, Tgid uint32
	PPid      uint32 // real parent's tgid
	VTid      uint32 // ids inside the task's own pid namespace
	VPid      uint32
	VPgid     uint32
	VSid      uint32
	Pgid      uint32 // host ids
	Sid       uint32

	UID, GID, EUID, EGID, SUID, SGID, FSUID, FSGID uint32
	LoginUID                                       uint32 // 0xffffffff when unset
	SessionID                                      uint32
	TTY                                            uint32 // encoded dev_t of the controlling tty, 0 if none
	CapEffective, CapPermitted, CapInheritable     uint64
	KernelThread                                   bool

	StartTime       int64  // ns since the epoch
	StartBootNS     uint64 // task->start_boottime, a stable key with Tgid
	ParentStartTime int64
	PidNSInitStart  int64 // start of the pid namespace's init
	CgroupID        uint64
	NS              Namespaces

	Comm string
	// Args is argv, argv[0] first, read from the process's memory
	// (bounded; ArgsTruncated says the end is missing).
	Args          []string
	ArgsTruncated bool
	Env           []string
	EnvTruncated  bool
	Exe           File // mm->exe_file
	Cwd           File
	Root          File   // the process's root; Path "/" with another MntNS for a container
	Cgroup        string // cgroup path in the hierarchy the sensor watches
}

// ExeFromMemfd reports whether the executable is a memfd (fileless exec).
func (p *ProcessInfo) ExeFromMemfd() bool { return p.Exe.Flags&FileMemfd != 0 }

// Cmdline returns argv joined by spaces.
func (p *ProcessInfo) Cmdline() string { return strings.Join(p.Args, " ") }

// ProcessRecord is an exec, fork or exit of a task.
type ProcessRecord struct {
	ProcessInfo

	// Exec.
	Filename string // the path exec was given, as the kernel copied it
	Interp   string // the interpreter of a script, when it differs
	OldTid   uint32 // the thread that called exec, before it took the leader's id

	// Fork: Tid/Tgid are the child's, Caller* the forking thread.
	CallerTid, CallerTgid uint32
	// CloneFlags are CLONE_* flags inferred from what the child shares
	// with its parent (the tracepoint is not given the flags).
	CloneFlags uint64

	// Exit.
	ExitCode  uint32 // the kernel's exit code: status<<8 | signal
	GroupDead bool   // the last thread of the group exited
}
