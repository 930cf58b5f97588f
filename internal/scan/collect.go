package scan

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// proc is what the scan read about one thread-group leader in /proc.
type proc struct {
	Pid    int
	Stat   statInfo
	Kernel bool // a kernel thread: no memory, no root of its own

	Root    rootKey
	HasRoot bool
	Env     loaderEnv
	Maps    []mapping
	Exe     string // readlink of /proc/<pid>/exe
	// ExeID and ExeSize identify the executable (a stat through
	// /proc/<pid>/exe, which reaches it wherever it is).
	ExeID   devIno
	ExeSize int64
	HasExe  bool
	// Runtime names the host's container runtime binary the process
	// executes (runc, conmon...), judged by the executable's identity;
	// "" for any other program.
	Runtime  string
	ReadErrs []string
}

// Bounds on what one process may cost.
const (
	maxEnviron = 1 << 20  // ARG_MAX-sized environments are read whole
	maxMaps    = 32 << 20 // a huge maps file is cut, not read forever
	maxSmall   = 64 << 10 // stat, status, cgroup, cmdline
)

// collector reads processes with per-worker buffers.
type collector struct {
	procfd int
	bufs   sync.Pool
}

type collectBufs struct {
	small, env, maps []byte
	maps2            []mapping
}

func newCollector(procfd int) *collector {
	c := &collector{procfd: procfd}
	c.bufs.New = func() any {
		return &collectBufs{small: make([]byte, 0, 4096), env: make([]byte, 0, 16<<10), maps: make([]byte, 0, 64<<10)}
	}
	return c
}

// read reads one process. It returns nil when the process is gone.
func (c *collector) read(pid int) *proc {
	b := c.bufs.Get().(*collectBufs)
	defer c.bufs.Put(b)
	// A directory fd pins the process: if it exits and the PID is reused,
	// reads through this fd fail instead of describing the newcomer.
	dfd, err := unix.Openat(c.procfd, strconv.Itoa(pid), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer closeFD(dfd)
	p := &proc{Pid: pid}
	b.small, err = readAt(dfd, "stat", b.small, maxSmall)
	if err != nil {
		return nil
	}
	st, ok := parseStat(b.small)
	if !ok {
		return nil
	}
	p.Stat = st
	if st.Flags&pfKthread != 0 {
		p.Kernel = true
		return p
	}
	var rst unix.Stat_t
	if err := unix.Fstatat(dfd, "root", &rst, 0); err == nil {
		if mnt, err := nsInode(dfd, "ns/mnt"); err == nil {
			p.Root = rootKey{MntNS: mnt, Dev: rst.Dev, Ino: rst.Ino}
			p.HasRoot = true
		}
	} else {
		p.ReadErrs = append(p.ReadErrs, "root: "+err.Error())
	}
	b.env, err = readAt(dfd, "environ", b.env, maxEnviron)
	if err != nil && err != errTooLarge {
		p.ReadErrs = append(p.ReadErrs, "environ: "+err.Error())
	} else {
		p.Env = parseEnv(b.env)
	}
	b.maps, err = readAt(dfd, "maps", b.maps, maxMaps)
	if err != nil && err != errTooLarge {
		p.ReadErrs = append(p.ReadErrs, "maps: "+err.Error())
	} else {
		b.maps2 = parseMaps(b.maps, b.maps2)
		p.Maps = append([]mapping(nil), b.maps2...)
	}
	if exe, err := readlinkAt(dfd, "exe"); err == nil {
		p.Exe = exe
	}
	var est unix.Stat_t
	if err := unix.Fstatat(dfd, "exe", &est, 0); err == nil {
		p.ExeID, p.ExeSize, p.HasExe = devIno{est.Dev, est.Ino}, est.Size, true
	}
	return p
}

func readlinkAt(dirfd int, name string) (string, error) {
	buf := make([]byte, 512)
	for {
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < len(buf) {
			return string(buf[:n]), nil
		}
		if len(buf) >= 64<<10 {
			return "", errTooLarge
		}
		buf = make([]byte, 2*len(buf))
	}
}

// readAll reads the given PIDs with workers goroutines. The result has the
// processes that could be read, in PID order.
func (c *collector) readAll(pids []int, workers int) []*proc {
	out := make([]*proc, len(pids))
	var wg sync.WaitGroup
	next := make(chan int, workers)
	for w := 0; w < max(workers, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i] = c.read(pids[i])
			}
		}()
	}
	for i := range pids {
		next <- i
	}
	close(next)
	wg.Wait()
	procs := out[:0]
	for _, p := range out {
		if p != nil {
			procs = append(procs, p)
		}
	}
	return procs
}

// statOf reads /proc/<pid>/stat. The start time in it is the process's
// identity together with the PID: a reused PID has a new start time.
func statOf(procfd, pid int) (statInfo, bool) {
	var buf [1024]byte
	fd, err := unix.Openat(procfd, strconv.Itoa(pid)+"/stat", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return statInfo{}, false
	}
	defer closeFD(fd)
	n, err := unix.Read(fd, buf[:])
	if err != nil || n <= 0 {
		return statInfo{}, false
	}
	return parseStat(buf[:n])
}

// readStatus reads /proc/<pid>/status.
func readStatus(procfd, pid int) (statusInfo, error) {
	b, err := readAt(procfd, fmt.Sprintf("%d/status", pid), make([]byte, 0, 2048), maxSmall)
	if err != nil {
		return statusInfo{}, err
	}
	return parseStatus(b), nil
}

// readCmdline returns argv.
func readCmdline(procfd, pid int) []string {
	b, err := readAt(procfd, fmt.Sprintf("%d/cmdline", pid), make([]byte, 0, 512), maxSmall)
	if err != nil || len(b) == 0 {
		return nil
	}
	b = bytes.TrimRight(b, "\x00")
	var out []string
	for _, a := range bytes.Split(b, []byte{0}) {
		out = append(out, string(a))
	}
	return out
}
