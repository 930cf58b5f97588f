package sensor

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// writeLoopEnv makes the test binary a workload that writes a buffer of
// writeLoopSizeEnv bytes to /dev/null that many times and prints the
// elapsed nanoseconds.
const (
	writeLoopEnv     = "TS_SENSOR_WRITELOOP"
	writeLoopSizeEnv = "TS_SENSOR_WRITELOOP_SIZE"
)

func writeLoop(count, size string) int {
	n, err := strconv.Atoi(count)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	sz, err := strconv.Atoi(size)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fd, err := unix.Open("/dev/null", unix.O_WRONLY, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	buf := make([]byte, sz)
	for i := range buf {
		buf[i] = byte(i)
	}
	start := time.Now()
	for range n {
		if _, err := unix.Write(fd, buf); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	fmt.Println(time.Since(start).Nanoseconds())
	return 0
}

// BenchmarkWriteDataOverhead prices the copy of I/O data: a process writes
// 4 KiB to /dev/null in a loop (run with -benchtime=200000x), with no
// sensor, with write reported without data (snaplen 0, what a rule set
// that never reads evt.buffer costs), and with snaplen 80 (Falco's
// default) and 4096. bpf-ns/syscall is the kernel program's mean run time
// per sys_exit on the machine, nearly all of them the loop's writes;
// drops counts records the ring buffer refused (the reader shares the two
// cores with the loop), which makes a figure measured with drops too low.
func BenchmarkWriteDataOverhead(b *testing.B) {
	size := 4096
	for _, c := range []struct {
		name     string
		attached bool
		snaplen  int
	}{
		{"sensor=false", false, 0},
		{"snaplen=0", true, 0},
		{"snaplen=80", true, 80},
		{"snaplen=4096", true, 4096},
	} {
		b.Run(c.name, func(b *testing.B) {
			var s *Sensor
			if c.attached {
				requireKernel(b)
				s = drainedSensor(b, Options{Syscalls: []string{"write"}, Snaplen: c.snaplen})
			}
			timeWorkload(b, s, []string{writeLoopEnv + "=" + strconv.Itoa(b.N), writeLoopSizeEnv + "=" + strconv.Itoa(size)}, "ns/write", false)
		})
	}
}
