package agent

import (
	"fmt"
	"os"

	"github.com/truesightsec/truesight/internal/engine"
	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/fields"
)

// readOnlyBlindTypes are the event types whose events never read the fd
// table's entry of a regular file that a read-only open returned: an open
// describes its own fd; paths are resolved against directories and the
// working directory (which the filter never leaves unrecorded), and a
// relative path's base comes from the kernel's record; an exec's program
// comes from the kernel's exec record; sockets, pipes and memfds are
// recorded whatever their flags; a truncate of a read-only fd fails. Rules
// on any other type (read, write, mmap, fstat, fchown, close, dup...) turn
// the read-only file filter off.
var readOnlyBlindTypes = func() map[event.Type]bool {
	m := map[event.Type]bool{}
	for _, n := range []string{
		"open", "openat", "openat2", "creat",
		"execve", "execveat", "clone", "clone3", "fork", "vfork", "procexit",
		"setuid", "setgid", "setresuid", "setresgid", "setreuid", "setregid", "setsid", "capset",
		"link", "linkat", "unlink", "unlinkat", "rename", "renameat", "renameat2",
		"symlink", "symlinkat", "truncate", "ftruncate", "mkdir", "mkdirat", "rmdir",
		"chmod", "chown", "lchown", "chdir", "chroot", "mount", "umount2",
		"socket", "connect", "accept", "accept4", "bind", "listen", "socketpair", "pipe", "pipe2",
		"memfd_create", "init_module", "ptrace", "bpf",
	} {
		if t, ok := event.TypeByName(n); ok {
			m[t] = true
		}
	}
	return m
}()

// readOnlyFilesUnused reports whether the rules can leave the read-only
// opens of regular files (and their closes) in the kernel: every syscall
// rule is of a type that never reads such a file's fd, and no rule of an
// open type can match an open that did not ask for write access.
func readOnlyFilesUnused(eng *engine.Engine) bool {
	notWrite := fields.Value{N: 0} // evt.is_open_write = false
	for _, t := range eng.Types(event.SourceSyscall) {
		if !readOnlyBlindTypes[t] {
			return false
		}
		if openTypes[t] && !eng.Rejects(event.SourceSyscall, t, "evt.is_open_write", notWrite) {
			return false
		}
	}
	return true
}

// filterReadOnly turns the sensor's read-only file filter on when the
// engine's rules cannot see what it leaves in the kernel, and off
// otherwise; always off when events are passed on (capture keeps
// everything). A sensor that refuses records everything, which costs only
// time.
func (l *Loop) filterReadOnly(eng *engine.Engine) {
	if l.Sensor == nil {
		return
	}
	on := l.OnEvent == nil && eng != nil && readOnlyFilesUnused(eng)
	if err := l.Sensor.SkipReadOnlyFiles(on); err != nil {
		fmt.Fprintf(os.Stderr, "truesight: %v (every open is recorded)\n", err)
	}
}
