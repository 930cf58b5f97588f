package sensor

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// dataScript moves the same 200 known bytes through every syscall family
// whose data the sensor copies, on a file and a unix socket pair, and
// prints the fds it used.
const dataScript = `
import ctypes, os, socket, sys
d = sys.argv[1]
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
def iov(*bufs):
    v = (iovec * len(bufs))()
    for i, b in enumerate(bufs):
        v[i].base, v[i].len = ctypes.addressof(b), len(b)
    return v
p = bytes((i * 7 + 3) % 256 for i in range(200))
fd = os.open(d + "/data", os.O_RDWR | os.O_CREAT, 0o600)
os.write(fd, p)
os.pwrite(fd, p, 0)
os.lseek(fd, 0, 0)
os.read(fd, 200)
os.pread(fd, 200, 0)
os.lseek(fd, 0, 0)
os.writev(fd, [p[:50], p[50:]])
os.lseek(fd, 0, 0)
os.readv(fd, [bytearray(30), bytearray(170)])
os.pwritev(fd, [p[:10], p[10:]], 0)        # pwritev2: what Python calls
os.preadv(fd, [bytearray(100), bytearray(100)], 0)
w = [ctypes.create_string_buffer(p[:70], 70), ctypes.create_string_buffer(p[70:], 130)]
libc.syscall(296, fd, iov(*w), 2, 0, 0)    # pwritev
r = [ctypes.create_string_buffer(5), ctypes.create_string_buffer(195)]
libc.syscall(295, fd, iov(*r), 2, 0, 0)    # preadv
os.read(fd, 200)  # at the end of the file: 0 bytes
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
a.send(p)
b.recv(200)
a.sendmsg([p[:20], p[20:]])
b.recvmsg(200)
ro = os.open(d + "/data", os.O_RDONLY)
try:
    os.write(ro, p)
except OSError:
    pass
print(fd, a.fileno(), b.fileno(), ro, flush=True)
`

// dataPayload is the script's 200 bytes.
func dataPayload() []byte {
	p := make([]byte, 200)
	for i := range p {
		p[i] = byte((i*7 + 3) % 256)
	}
	return p
}

// The kernel copies the first snaplen bytes of what each read, write, send
// and receive moved (across iovec boundaries too) with the full length,
// only when a snaplen is set.
func TestSensorCopiesTheFirstSnaplenBytesOfIOData(t *testing.T) {
	py := python(t)
	payload := dataPayload()
	syscalls := []string{"read", "pread64", "readv", "preadv", "preadv2", "write", "pwrite64", "writev", "pwritev", "pwritev2",
		"sendto", "sendmsg", "recvfrom", "recvmsg"}
	for _, snaplen := range []int{80, 150, 0} {
		t.Run(fmt.Sprintf("snaplen %d", snaplen), func(t *testing.T) {
			r := openSensor(t, Options{Syscalls: syscalls, Snaplen: snaplen})
			dir := tempDir(t)
			cmd := exec.Command(py, "-c", dataScript, dir)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("script: %v: %s", err, out)
			}
			var fd, sa, sb, ro uint64
			if _, err := fmt.Sscan(strings.TrimSpace(string(out)), &fd, &sa, &sb, &ro); err != nil {
				t.Fatalf("script printed %q: %v", out, err)
			}
			pid := cmd.Process.Pid
			ebadf := -int64(syscall.EBADF)
			for _, tc := range []struct {
				name string
				fd   uint64
				ret  int64
				len  int64 // DataLen
			}{
				{"write", fd, 200, 200}, {"pwrite64", fd, 200, 200}, {"read", fd, 200, 200},
				{"pread64", fd, 200, 200}, {"writev", fd, 200, 200}, {"readv", fd, 200, 200},
				{"pwritev2", fd, 200, 200}, {"preadv2", fd, 200, 200}, {"pwritev", fd, 200, 200},
				{"preadv", fd, 200, 200}, {"read", fd, 0, 0},
				{"sendto", sa, 200, 200}, {"recvfrom", sb, 200, 200}, {"sendmsg", sa, 200, 200},
				{"recvmsg", sb, 200, 200}, {"write", ro, ebadf, 200},
			} {
				what := fmt.Sprintf("%s(fd %d) = %d", tc.name, tc.fd, tc.ret)
				rec := r.wait(t, what, syscallOf(pid, tc.name, func(s *SyscallRecord) bool {
					return s.Args[0] == tc.fd && s.Ret == tc.ret
				}))
				s := rec.Syscall
				if snaplen == 0 {
					if s.HasData || s.Data != nil || s.DataLen != 0 {
						t.Errorf("%s: data copied with snaplen 0: HasData %v DataLen %d Data %d bytes", what, s.HasData, s.DataLen, len(s.Data))
					}
					continue
				}
				want := payload[:min(int64(snaplen), tc.len)]
				if !s.HasData || s.DataLen != tc.len || !bytes.Equal(s.Data, want) {
					t.Errorf("%s: HasData %v DataLen %d Data %s; want DataLen %d Data %s", what, s.HasData, s.DataLen,
						strconv.Quote(string(s.Data)), tc.len, strconv.Quote(string(want)))
				}
			}
		})
	}
}

// A snaplen outside what the kernel side copies is refused before anything
// is loaded, with the bound.
func TestOpenRefusesASnaplenAboveTheBound(t *testing.T) {
	for _, n := range []int{-1, MaxSnaplen + 1} {
		_, err := Open(Options{Snaplen: n})
		want := fmt.Sprintf("sensor: options: snaplen %d is not from 0 to 4096 bytes", n)
		if err == nil || err.Error() != want {
			t.Errorf("Open(Snaplen %d): %v, want %s", n, err, want)
		}
	}
}

// In a container too: the shell writes a marker to a file and dd reads it
// back (busybox cat would use sendfile); the container's records carry
// the marker's first snaplen bytes.
func TestSensorCopiesIODataInAContainer(t *testing.T) {
	requireKernel(t)
	requirePodman(t)
	r := openSensor(t, Options{Syscalls: []string{"read", "write"}, Snaplen: 16})
	marker := "ts-data-" + strconv.Itoa(os.Getpid()) + "-0123456789abcdef"
	name := "ts-sensor-data-" + strconv.Itoa(os.Getpid())
	t.Cleanup(func() { _ = exec.Command("podman", "rm", "-f", "-t", "0", name).Run() })
	podman(t, "run", "--name", name, testImage, "sh", "-c", "echo -n "+marker+" > /tmp/m && busybox dd if=/tmp/m of=/tmp/copy")
	want := marker[:16]
	moved := int64(len(marker))
	hostMnt := nsInode(t, os.Getpid(), "mnt")
	for _, c := range []struct{ comm, call string }{{"sh", "write"}, {"busybox", "read"}, {"busybox", "write"}} {
		rec := r.wait(t, c.comm+"'s "+c.call+" of the marker in the container", func(rec *Record) bool {
			s := &rec.Syscall
			// Other tests run on this machine too: the marker is the key.
			return rec.Kind == KindSyscall && s.Task.Comm == c.comm && s.Name() == c.call && string(s.Data) == want
		})
		s := rec.Syscall
		if s.Ret != moved || s.DataLen != moved || s.Task.MntNS == hostMnt {
			t.Errorf("%s %s: ret %d DataLen %d mntns %d; want %d, %d, the container's mount namespace", c.comm, c.call, s.Ret, s.DataLen, s.Task.MntNS, moved, moved)
		}
	}
}
