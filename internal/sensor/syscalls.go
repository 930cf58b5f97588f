package sensor

import (
	"fmt"
	"strconv"
	"strings"
)

// maxSyscalls matches MAX_SYSCALLS in bpf/sensor.h: the size of the
// kernel's per-syscall tables.
const maxSyscalls = 512

// SyscallName returns the x86_64 name of syscall nr, or "" if unknown.
func SyscallName(nr int) string {
	if nr < 0 || nr >= len(x86_64Names) {
		return ""
	}
	return x86_64Names[nr]
}

// SyscallNumber returns the x86_64 number of a syscall name.
func SyscallNumber(name string) (int, bool) {
	nr, ok := x86_64Numbers[name]
	return nr, ok
}

// IA32SyscallName returns the i386 name of 32-bit syscall nr.
func IA32SyscallName(nr int) string {
	if nr < 0 || nr >= len(ia32Names) {
		return ""
	}
	return ia32Names[nr]
}

// IA32ToX86_64 returns the x86_64 syscall that a 32-bit (int 0x80) syscall
// is reported as. Calls with no 64-bit equivalent (socketcall, ipc, the old
// mmap with its argument block, ...) are not mapped and so not reported.
func IA32ToX86_64(nr int) (int, bool) {
	if nr < 0 || nr >= len(ia32Remap) || ia32Remap[nr] < 0 {
		return 0, false
	}
	return ia32Remap[nr], true
}

var x86_64Numbers = func() map[string]int {
	m := make(map[string]int, len(x86_64Names))
	for nr, name := range x86_64Names {
		if name != "" {
			m[name] = nr
		}
	}
	return m
}()

// ia32Aliases names the x86_64 equivalent of i386 calls whose name differs
// by more than a "32"/"64"/"_time64" suffix.
var ia32Aliases = map[string]string{
	"mmap2":      "mmap", // same arguments; the offset is in pages
	"fstatat64":  "newfstatat",
	"ugetrlimit": "getrlimit",
	"_newselect": "select",
	"_llseek":    "lseek",
}

// ia32NotMapped are i386 calls whose argument layout differs from the x86_64
// call of the same name; reporting them as that call would mislead.
var ia32NotMapped = map[string]bool{
	"mmap":        true, // old_mmap: one pointer to an argument block
	"select":      true, // old_select: one pointer to an argument block
	"umount":      true, // oldumount: no flags
	"readdir":     true,
	"uname":       true, // olduname
	"oldstat":     true,
	"oldlstat":    true,
	"oldfstat":    true,
	"oldolduname": true,
}

var ia32Remap = func() []int {
	r := make([]int, len(ia32Names))
	for nr, name := range ia32Names {
		r[nr] = -1
		if name == "" || ia32NotMapped[name] {
			continue
		}
		if to, ok := ia32Aliases[name]; ok {
			name = to
		}
		if n, ok := x86_64Numbers[name]; ok {
			r[nr] = n
			continue
		}
		for _, suffix := range []string{"_time64", "64", "32"} {
			if base, ok := strings.CutSuffix(name, suffix); ok {
				if n, ok := x86_64Numbers[base]; ok {
					r[nr] = n
					break
				}
			}
		}
	}
	return r
}()

// DefaultSyscalls are the syscalls reported when Options.Syscalls is empty:
// file opens, exec and the process lifecycle first, then what rules about
// persistence, privilege and the network need.
var DefaultSyscalls = []string{
	"open", "openat", "openat2", "creat",
	"execve", "execveat",
	"clone", "clone3", "fork", "vfork",
	"close", "dup", "dup2", "dup3",
	"connect", "sendto", "sendmsg", "socket", "accept", "accept4", "bind", "listen",
	"symlink", "symlinkat", "link", "linkat",
	"rename", "renameat", "renameat2", "unlink", "unlinkat", "rmdir", "truncate", "ftruncate",
	"chdir", "fchdir", "mkdir", "mkdirat", "chmod", "fchmod", "fchmodat", "fchmodat2",
	"init_module", "finit_module", "ptrace",
	"setuid", "setgid", "setresuid", "setresgid", "setreuid", "setregid",
	"memfd_create", "mmap", "mprotect", "kill",
}

// resolveSyscalls turns names or decimal numbers into x86_64 numbers.
func resolveSyscalls(list []string) ([]int, error) {
	if len(list) == 0 {
		list = DefaultSyscalls
	}
	out := make([]int, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if n, err := strconv.Atoi(s); err == nil {
			if n < 0 || n >= maxSyscalls {
				return nil, fmt.Errorf("syscall number %d out of range [0,%d)", n, maxSyscalls)
			}
			out = append(out, n)
			continue
		}
		n, ok := SyscallNumber(s)
		if !ok {
			return nil, fmt.Errorf("unknown x86_64 syscall %q", s)
		}
		out = append(out, n)
	}
	return out, nil
}
