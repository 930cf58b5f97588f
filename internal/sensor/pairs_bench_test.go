package sensor

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// pairLoopEnv makes the test binary a workload that makes that many pipes
// (pipe2, closing both ends) or capsets (setting the sets it has), as
// pairLoopKindEnv says, and prints the elapsed nanoseconds.
const (
	pairLoopEnv     = "TS_SENSOR_PAIRLOOP"
	pairLoopKindEnv = "TS_SENSOR_PAIRLOOP_KIND"
)

func pairLoop(count, kind string) int {
	n, err := strconv.Atoi(count)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var fds [2]int
	start := time.Now()
	for range n {
		switch kind {
		case "pipe2":
			if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			unix.Close(fds[0])
			unix.Close(fds[1])
		case "capset":
			if err := unix.Capset(&hdr, &data[0]); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		default:
			fmt.Fprintln(os.Stderr, "unknown loop", kind)
			return 2
		}
	}
	fmt.Println(time.Since(start).Nanoseconds())
	return 0
}

// BenchmarkPairAndCapsOverhead prices reading pipe2's fds (and the pipe's
// inode) and capset's sets in the kernel: a process makes and closes pipes,
// or sets its capabilities, in a loop (run with -benchtime=200000x), with
// no sensor, with the syscall reported with its arguments only, and with
// the extra read. bpf-ns/op is the kernel program's run time per loop
// round, over every sys_exit of the machine (a pipe round is three
// syscalls, the closes unreported).
func BenchmarkPairAndCapsOverhead(b *testing.B) {
	for _, c := range []struct {
		name     string
		syscall  string
		attached bool
		extra    bool
	}{
		{"pipe2/sensor=false", "pipe2", false, false},
		{"pipe2/args-only", "pipe2", true, false},
		{"pipe2/fds", "pipe2", true, true},
		{"capset/sensor=false", "capset", false, false},
		{"capset/args-only", "capset", true, false},
		{"capset/caps", "capset", true, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			var s *Sensor
			if c.attached {
				requireKernel(b)
				if !c.extra {
					saved := plans[c.syscall]
					plans[c.syscall] = plan{}
					defer func() { plans[c.syscall] = saved }()
				}
				s = drainedSensor(b, Options{Syscalls: []string{c.syscall}})
			}
			timeWorkload(b, s, []string{pairLoopEnv + "=" + strconv.Itoa(b.N), pairLoopKindEnv + "=" + c.syscall}, "ns/op-loop", true)
		})
	}
}
