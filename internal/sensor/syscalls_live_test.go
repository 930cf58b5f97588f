package sensor

import (
	"encoding/binary"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// python returns a python3 interpreter, the distribution's when there is
// one (version managers' shims fork helpers of their own).
func python(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		skipOrFail(t, "python3 not installed: it is how this test makes syscalls no shell tool makes")
	}
	return py
}

// syscallScript makes one or more calls of each syscall the sensor decodes
// beyond opens and exec; it prints the ports it got.
const syscallScript = `
import ctypes, mmap, os, socket, sys
d = sys.argv[1]
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
AT_FDCWD = -100

# openat2(AT_FDCWD, d/f, {flags: O_RDONLY}, 24)
open(d + "/f", "w").write("x" * 4096)
how = (ctypes.c_uint64 * 3)(0, 0, 0)
fd = libc.syscall(437, AT_FDCWD, (d + "/f").encode(), ctypes.byref(how), 24)
os.close(fd)

# TCP over loopback: bind, listen, connect, accept4
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
cli = socket.socket(); cli.connect(srv.getsockname())
conn, _ = srv.accept()
# UDP: sendto and sendmsg with a destination
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(b"x", ("127.0.0.1", 9))
u.sendmsg([b"y"], [], 0, ("127.0.0.1", 10))
# unix socket: bind and connect by path
us = socket.socket(socket.AF_UNIX); us.bind(d + "/sock"); us.listen(1)
uc = socket.socket(socket.AF_UNIX); uc.connect(d + "/sock")
print(srv.getsockname()[1], flush=True)

fd = os.open(d + "/f", os.O_RDWR)
os.ftruncate(fd, 4096)
os.fchmod(fd, 0o600)
libc.syscall(32, fd)                      # dup: os.dup is fcntl(F_DUPFD_CLOEXEC)
os.truncate(d + "/f", 4096)
# mprotect a file mapping to PROT_EXEC
m = mmap.mmap(fd, 4096, prot=mmap.PROT_READ)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
p = libc.mmap(None, 4096, mmap.PROT_READ, mmap.MAP_PRIVATE, fd, 0)
libc.mprotect(ctypes.c_void_p(p), 4096, mmap.PROT_READ | mmap.PROT_EXEC)

dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
os.mkdir("sub", dir_fd=dfd)
os.rename("sub", "sub2", src_dir_fd=dfd, dst_dir_fd=dfd)
os.rmdir(d + "/sub2")
os.fchdir(dfd)
os.unlink("sock")
os.kill(os.getpid(), 0)
os.setgid(0); os.setuid(0); os.setresuid(-1, -1, -1)
libc.syscall(101, 16, 999999999, 0, 0)   # ptrace(PTRACE_ATTACH) of no one: ESRCH
libc.syscall(313, fd, b"", 0)             # finit_module: ENOSYS here, EPERM or worse elsewhere
os.posix_spawn("/bin/true", ["true"], {})
os.wait()
`

func TestOtherSyscallsAreDecoded(t *testing.T) {
	py := python(t)
	r := openSensor(t, Options{})
	dir := tempDir(t)
	cmd := exec.Command(py, "-c", syscallScript, dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("script: %v\n%s", err, out)
	}
	port, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("script output %q: %v", out, err)
	}
	pid := cmd.Process.Pid
	server := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
	file := filepath.Join(dir, "f")
	st := stat(t, file)
	get := func(t *testing.T, name string, pred func(*SyscallRecord) bool) SyscallRecord {
		t.Helper()
		return r.wait(t, name, syscallOf(pid, name, pred)).Syscall
	}

	t.Run("openat2", func(t *testing.T) {
		s := get(t, "openat2", nil)
		if s.Ret < 0 || s.Path[0] != file || s.File.Path != file || s.File.Ino != st.Ino || s.StructLen != 24 ||
			binary.LittleEndian.Uint64(s.Struct[:]) != unix.O_RDONLY {
			t.Errorf("ret %d Path %q File %q StructLen %d", s.Ret, s.Path[0], s.File.Path, s.StructLen)
		}
	})
	t.Run("bind listen connect accept", func(t *testing.T) {
		bind := get(t, "bind", func(s *SyscallRecord) bool { return s.Sock.Family == unix.AF_INET })
		if bind.Ret != 0 || bind.Addr.AddrPort.Addr() != server.Addr() || bind.Sock.Local != server {
			t.Errorf("bind: ret %d Addr %+v Sock %+v", bind.Ret, bind.Addr, bind.Sock)
		}
		listen := get(t, "listen", func(s *SyscallRecord) bool { return s.Sock.Family == unix.AF_INET })
		if listen.Ret != 0 || listen.Sock.Local != server || listen.Sock.State != 10 { // TCP_LISTEN
			t.Errorf("listen: ret %d Sock %+v", listen.Ret, listen.Sock)
		}
		conn := get(t, "connect", func(s *SyscallRecord) bool { return s.Sock.Family == unix.AF_INET })
		if conn.Ret != 0 || conn.Sock.Remote != server || conn.Addr.AddrPort != server {
			t.Errorf("connect: ret %d Sock %+v Addr %+v", conn.Ret, conn.Sock, conn.Addr)
		}
		acc := get(t, "accept4", nil)
		if acc.Ret < 0 || acc.Sock.Local != server || acc.Sock.Remote != conn.Sock.Local {
			t.Errorf("accept4: ret %d Sock %+v, want %v <- %v", acc.Ret, acc.Sock, server, conn.Sock.Local)
		}
	})
	t.Run("sendto sendmsg", func(t *testing.T) {
		to := get(t, "sendto", func(s *SyscallRecord) bool { return s.Addr.Valid })
		if to.Ret != 1 || to.Addr.AddrPort != netip.MustParseAddrPort("127.0.0.1:9") || to.Sock.Proto != unix.IPPROTO_UDP {
			t.Errorf("sendto: ret %d Addr %+v Sock %+v", to.Ret, to.Addr, to.Sock)
		}
		msg := get(t, "sendmsg", nil)
		if msg.Ret != 1 || msg.Addr.AddrPort != netip.MustParseAddrPort("127.0.0.1:10") || msg.Sock.Type != unix.SOCK_DGRAM {
			t.Errorf("sendmsg: ret %d Addr %+v Sock %+v", msg.Ret, msg.Addr, msg.Sock)
		}
	})
	t.Run("unix sockets", func(t *testing.T) {
		sock := filepath.Join(dir, "sock")
		// The script's own sockets: python may first try others (nscd's,
		// when it looks its user up without HOME).
		bind := get(t, "bind", func(s *SyscallRecord) bool { return s.Sock.Family == unix.AF_UNIX && s.Addr.Path == sock })
		if bind.Ret != 0 || bind.Addr.Path != sock || bind.Sock.LocalPath != sock {
			t.Errorf("bind: ret %d Addr %+v Sock %+v", bind.Ret, bind.Addr, bind.Sock)
		}
		conn := get(t, "connect", func(s *SyscallRecord) bool { return s.Sock.Family == unix.AF_UNIX && s.Addr.Path == sock })
		if conn.Ret != 0 || conn.Addr.Path != sock || conn.Sock.PeerPath != sock {
			t.Errorf("connect: ret %d Addr %+v Sock %+v", conn.Ret, conn.Addr, conn.Sock)
		}
	})
	t.Run("fd syscalls name the file", func(t *testing.T) {
		for _, name := range []string{"ftruncate", "fchmod", "dup"} {
			s := get(t, name, nil)
			if s.Ret < 0 || s.File.Path != file || s.File.Ino != st.Ino {
				t.Errorf("%s: ret %d File %+v", name, s.Ret, s.File)
			}
		}
		tr := get(t, "truncate", nil)
		if tr.Ret != 0 || tr.Path[0] != file {
			t.Errorf("truncate: ret %d Path %q", tr.Ret, tr.Path[0])
		}
	})
	t.Run("mprotect PROT_EXEC names the mapped file", func(t *testing.T) {
		s := get(t, "mprotect", func(s *SyscallRecord) bool { return s.File.Valid })
		if s.Ret != 0 || s.Args[2] != unix.PROT_READ|unix.PROT_EXEC || s.File.Path != file || s.File.Ino != st.Ino {
			t.Errorf("ret %d prot %#x File %+v", s.Ret, s.Args[2], s.File)
		}
	})
	t.Run("dirfd-relative paths", func(t *testing.T) {
		mk := get(t, "mkdirat", nil)
		if mk.Ret != 0 || mk.Path[0] != "sub" || mk.Dir[0].Path != dir {
			t.Errorf("mkdirat: ret %d Path %q Dir %q", mk.Ret, mk.Path[0], mk.Dir[0].Path)
		}
		rn := get(t, "renameat", nil)
		if rn.Ret != 0 || rn.Path != [2]string{"sub", "sub2"} || rn.Dir[0].Path != dir || rn.Dir[1].Path != dir {
			t.Errorf("renameat: ret %d Path %q Dir %q %q", rn.Ret, rn.Path, rn.Dir[0].Path, rn.Dir[1].Path)
		}
		rm := get(t, "rmdir", nil)
		if rm.Ret != 0 || rm.Path[0] != dir+"/sub2" || rm.Dir[0].Valid {
			t.Errorf("rmdir: ret %d Path %q Dir %+v", rm.Ret, rm.Path[0], rm.Dir[0])
		}
		cd := get(t, "fchdir", nil)
		if cd.Ret != 0 || cd.Cwd.Path != dir {
			t.Errorf("fchdir: ret %d Cwd %q", cd.Ret, cd.Cwd.Path)
		}
		// After fchdir the relative unlink is based on the new cwd.
		ul := get(t, "unlink", nil)
		if ul.Ret != 0 || ul.Path[0] != "sock" || ul.Dir[0].Path != dir {
			t.Errorf("unlink: ret %d Path %q Dir %q", ul.Ret, ul.Path[0], ul.Dir[0].Path)
		}
	})
	t.Run("process syscalls", func(t *testing.T) {
		kill := get(t, "kill", nil)
		if kill.Ret != 0 || kill.Args[0] != uint64(pid) || kill.Args[1] != 0 {
			t.Errorf("kill: ret %d args %v", kill.Ret, kill.Args[:2])
		}
		for _, name := range []string{"setgid", "setuid", "setresuid"} {
			if s := get(t, name, nil); s.Ret != 0 || s.Task.UID != 0 {
				t.Errorf("%s: ret %d uid %d", name, s.Ret, s.Task.UID)
			}
		}
		pt := get(t, "ptrace", nil)
		if pt.Ret != -int64(unix.ESRCH) || pt.Args[0] != 16 || pt.Args[1] != 999999999 {
			t.Errorf("ptrace: ret %d args %v", pt.Ret, pt.Args[:2])
		}
		fm := get(t, "finit_module", nil)
		if fm.Ret >= 0 || fm.File.Path != file {
			t.Errorf("finit_module: ret %d File %q", fm.Ret, fm.File.Path)
		}
		// glibc's posix_spawn is clone3(CLONE_VM|CLONE_VFORK).
		c3 := get(t, "clone3", func(s *SyscallRecord) bool { return s.Ret > 0 })
		flags := binary.LittleEndian.Uint64(c3.Struct[:])
		if c3.StructLen != 64 || flags&(unix.CLONE_VM|unix.CLONE_VFORK) != unix.CLONE_VM|unix.CLONE_VFORK {
			t.Errorf("clone3: StructLen %d flags %#x", c3.StructLen, flags)
		}
	})
}
