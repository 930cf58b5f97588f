package sensor

import (
	"fmt"
	"slices"
)

// What the kernel side extracts for each syscall, as flags of struct sc_spec
// (bpf/sensor.h).
const (
	scEnabled  = 0x1
	scRetFD    = 0x2    // describe the returned fd when ret >= 0
	scProtExec = 0x4    // report only when args[2] has PROT_EXEC
	scVMARet   = 0x8    // describe the file mapped at the returned address
	scVMAArg0  = 0x10   // describe the file mapped at args[0] on success
	scNewCwd   = 0x20   // on success, describe the new working directory
	scSendmsg  = 0x40   // sockaddr from the msghdr in args[1]
	scExec     = 0x80   // failed exec: argv from the user's argv array
	scNoBase0  = 0x100  // the first path is stored, not resolved (symlink target)
	scDataIn   = 0x200  // I/O data read into the buffer: ret bytes
	scDataOut  = 0x400  // I/O data written from the buffer: ret bytes, or all asked for
	scDataIOV  = 0x800  // the data argument is an iovec array of count entries
	scDataMsg  = 0x1000 // the data argument is a msghdr, whose msg_iov holds the data
	scFDPair   = 0x2000 // on success, the two fds written to the int[2] at pairArg
	scCaps     = 0x4000 // the caller's capability sets at exit
	// scSkipRdonly leaves in the kernel the read-only opens of regular
	// files, failed read-only opens, and the closes of the fds such opens
	// returned (Sensor.SkipReadOnlyFiles).
	scSkipRdonly = 0x8000
)

// skipRdonlySyscalls are the syscalls scSkipRdonly applies to.
var skipRdonlySyscalls = []string{"open", "openat", "openat2", "close"}

// DefaultSnaplen is Falco's snaplen: how many bytes of each read or
// write the kernel copies into evt.buffer when a rule reads it.
const DefaultSnaplen = 80

// MaxSnaplen matches MAX_SNAPLEN in bpf/sensor.h.
const MaxSnaplen = 4096

// plan is one syscall's extraction plan. Argument positions are 1-based so
// that 0 means "none", as the kernel side expects.
type plan struct {
	flags      uint16
	path       [2]uint8 // path arguments, in argument order
	dirfd      [2]uint8 // the dirfd each path is relative to (0: the cwd)
	fdArg      uint8    // fd argument to describe
	addrArg    uint8    // user struct sockaddr
	addrlenArg uint8    // its length
	strArg     uint8    // a plain string argument
	structArg  uint8    // a user struct copied raw
	structLen  uint8
	argvArg    uint8 // exec's argv array
	dataArg    uint8 // the I/O data's buffer, iovec array or msghdr
	countArg   uint8 // the buffer's size, or the iovec count
	pairArg    uint8 // the int[2] pipe, pipe2 and socketpair fill
}

// plans lists every syscall the sensor knows how to decode beyond its raw
// arguments. Syscalls absent here are still reported, with arguments only.
var plans = map[string]plan{
	"open":     {flags: scRetFD, path: [2]uint8{1}},
	"openat":   {flags: scRetFD, path: [2]uint8{2}, dirfd: [2]uint8{1}},
	"openat2":  {flags: scRetFD, path: [2]uint8{2}, dirfd: [2]uint8{1}, structArg: 3, structLen: 24},
	"creat":    {flags: scRetFD, path: [2]uint8{1}},
	"execve":   {flags: scExec, path: [2]uint8{1}, argvArg: 2},
	"execveat": {flags: scExec, path: [2]uint8{2}, dirfd: [2]uint8{1}, argvArg: 3},

	"clone3": {structArg: 1, structLen: 64},

	"dup":  {flags: scRetFD},
	"dup2": {flags: scRetFD},
	"dup3": {flags: scRetFD},

	"socket":   {flags: scRetFD},
	"accept":   {flags: scRetFD},
	"accept4":  {flags: scRetFD},
	"connect":  {fdArg: 1, addrArg: 2, addrlenArg: 3},
	"bind":     {fdArg: 1, addrArg: 2, addrlenArg: 3},
	"listen":   {fdArg: 1},
	"sendto":   {flags: scDataOut, fdArg: 1, addrArg: 5, addrlenArg: 6, dataArg: 2, countArg: 3},
	"sendmsg":  {flags: scSendmsg | scDataOut | scDataMsg, fdArg: 1, dataArg: 2},
	"recvfrom": {flags: scDataIn, fdArg: 1, dataArg: 2, countArg: 3},
	"recvmsg":  {flags: scDataIn | scDataMsg, fdArg: 1, dataArg: 2},

	// The data of reads and writes, copied when Options.Snaplen is set.
	"read":     {flags: scDataIn, dataArg: 2, countArg: 3},
	"pread64":  {flags: scDataIn, dataArg: 2, countArg: 3},
	"readv":    {flags: scDataIn | scDataIOV, dataArg: 2, countArg: 3},
	"preadv":   {flags: scDataIn | scDataIOV, dataArg: 2, countArg: 3},
	"preadv2":  {flags: scDataIn | scDataIOV, dataArg: 2, countArg: 3},
	"write":    {flags: scDataOut, dataArg: 2, countArg: 3},
	"pwrite64": {flags: scDataOut, dataArg: 2, countArg: 3},
	"writev":   {flags: scDataOut | scDataIOV, dataArg: 2, countArg: 3},
	"pwritev":  {flags: scDataOut | scDataIOV, dataArg: 2, countArg: 3},
	"pwritev2": {flags: scDataOut | scDataIOV, dataArg: 2, countArg: 3},
	"shutdown": {fdArg: 1},

	// symlink's target is stored as given, never resolved: it has no base.
	"symlink":   {flags: scNoBase0, path: [2]uint8{1, 2}},
	"symlinkat": {flags: scNoBase0, path: [2]uint8{1, 3}, dirfd: [2]uint8{0, 2}},
	"link":      {path: [2]uint8{1, 2}},
	"linkat":    {path: [2]uint8{2, 4}, dirfd: [2]uint8{1, 3}},
	"rename":    {path: [2]uint8{1, 2}},
	"renameat":  {path: [2]uint8{2, 4}, dirfd: [2]uint8{1, 3}},
	"renameat2": {path: [2]uint8{2, 4}, dirfd: [2]uint8{1, 3}},
	"unlink":    {path: [2]uint8{1}},
	"unlinkat":  {path: [2]uint8{2}, dirfd: [2]uint8{1}},
	"rmdir":     {path: [2]uint8{1}},
	"truncate":  {path: [2]uint8{1}},
	"ftruncate": {fdArg: 1},
	"mkdir":     {path: [2]uint8{1}},
	"mkdirat":   {path: [2]uint8{2}, dirfd: [2]uint8{1}},
	"mknod":     {path: [2]uint8{1}},
	"mknodat":   {path: [2]uint8{2}, dirfd: [2]uint8{1}},
	"chmod":     {path: [2]uint8{1}},
	"fchmod":    {fdArg: 1},
	"fchmodat":  {path: [2]uint8{2}, dirfd: [2]uint8{1}},
	"fchmodat2": {path: [2]uint8{2}, dirfd: [2]uint8{1}},
	"chown":     {path: [2]uint8{1}},
	"lchown":    {path: [2]uint8{1}},
	"fchown":    {fdArg: 1},
	"fchownat":  {path: [2]uint8{2}, dirfd: [2]uint8{1}},
	"chdir":     {flags: scNewCwd, path: [2]uint8{1}},
	"fchdir":    {flags: scNewCwd, fdArg: 1},
	"chroot":    {path: [2]uint8{1}},
	"mount":     {flags: scNoBase0, path: [2]uint8{1, 2}},
	"umount2":   {path: [2]uint8{1}},
	"setns":     {fdArg: 1},

	"init_module":  {strArg: 3},
	"finit_module": {fdArg: 1, strArg: 2},
	"memfd_create": {flags: scRetFD, strArg: 1},
	"mmap":         {flags: scProtExec | scVMARet},
	"mprotect":     {flags: scProtExec | scVMAArg0},

	"userfaultfd":       {flags: scRetFD},
	"open_by_handle_at": {flags: scRetFD, fdArg: 1},
	"io_uring_setup":    {flags: scRetFD},
	"pidfd_open":        {flags: scRetFD},
	"eventfd2":          {flags: scRetFD},
	"signalfd4":         {flags: scRetFD},
	"inotify_init1":     {flags: scRetFD},
	"timerfd_create":    {flags: scRetFD},
	"bpf":               {},

	// The fds written to the caller's int[2], and the new capabilities.
	"pipe":       {flags: scFDPair, pairArg: 1},
	"pipe2":      {flags: scFDPair, pairArg: 1},
	"socketpair": {flags: scFDPair, pairArg: 4},
	"capset":     {flags: scCaps},
}

// spec is the kernel's struct sc_spec for syscall nr, with the read-only
// file filter on or off.
func spec(nr int, skipRdonly bool) sensorBPFScSpec {
	name := SyscallName(nr)
	p := plans[name]
	flags := p.flags | scEnabled
	if skipRdonly && slices.Contains(skipRdonlySyscalls, name) {
		flags |= scSkipRdonly
	}
	return sensorBPFScSpec{
		Flags:      flags,
		Path:       p.path,
		Dirfd:      p.dirfd,
		FdArg:      p.fdArg,
		AddrArg:    p.addrArg,
		AddrlenArg: p.addrlenArg,
		StrArg:     p.strArg,
		UstructArg: p.structArg,
		UstructLen: p.structLen,
		ArgvArg:    p.argvArg,
		DataArg:    p.dataArg,
		CountArg:   p.countArg,
		PairArg:    p.pairArg,
	}
}

// CarriesData reports whether the sensor copies the I/O data of this
// syscall (by name) when Options.Snaplen is set.
func CarriesData(name string) bool {
	return plans[name].flags&(scDataIn|scDataOut) != 0
}

// snaplenConst checks Options.Snaplen and returns the kernel's constant.
func snaplenConst(n int) (uint32, error) {
	if n < 0 || n > MaxSnaplen {
		return 0, fmt.Errorf("snaplen %d is not from 0 to %d bytes", n, MaxSnaplen)
	}
	return uint32(n), nil
}
