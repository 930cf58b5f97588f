package sensor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// openLoopEnv makes the test binary a workload instead of a test run: it
// opens and closes the file named by openLoopFileEnv that many times and
// prints the elapsed nanoseconds. The sensor ignores its own process, so the
// workload must be another one.
const (
	openLoopEnv     = "TS_SENSOR_OPENLOOP"
	openLoopFileEnv = "TS_SENSOR_OPENLOOP_FILE"
)

func TestMain(m *testing.M) {
	if n := os.Getenv(openLoopEnv); n != "" {
		os.Exit(openLoop(n, os.Getenv(openLoopFileEnv)))
	}
	if n := os.Getenv(writeLoopEnv); n != "" {
		os.Exit(writeLoop(n, os.Getenv(writeLoopSizeEnv)))
	}
	if n := os.Getenv(pairLoopEnv); n != "" {
		os.Exit(pairLoop(n, os.Getenv(pairLoopKindEnv)))
	}
	os.Exit(m.Run())
}

func openLoop(count, file string) int {
	n, err := strconv.Atoi(count)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	start := time.Now()
	for range n {
		fd, err := unix.Open(file, unix.O_RDONLY, 0)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		unix.Close(fd)
	}
	fmt.Println(time.Since(start).Nanoseconds())
	return 0
}

// BenchmarkOpenCloseOverhead measures what the sensor costs a process that
// opens and closes a file in a loop: run with -benchtime=100000x to time
// 100k pairs, once without and once with the sensor attached and drained.
// TS_BENCH_SYSCALLS (space-separated names) narrows the reported syscalls,
// to price one kind of record: "getpid" reports none of the loop's.
func BenchmarkOpenCloseOverhead(b *testing.B) {
	file := filepath.Join(b.TempDir(), "f")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		b.Fatal(err)
	}
	for _, attached := range []bool{false, true} {
		b.Run("sensor="+strconv.FormatBool(attached), func(b *testing.B) {
			var s *Sensor
			if attached {
				requireKernel(b)
				s = drainedSensor(b, Options{Syscalls: strings.Fields(os.Getenv("TS_BENCH_SYSCALLS"))})
			}
			timeWorkload(b, s, []string{openLoopEnv + "=" + strconv.Itoa(b.N), openLoopFileEnv + "=" + file}, "ns/open+close", false)
		})
	}
}

// BenchmarkSnapshot times one iter/task walk over every process.
func BenchmarkSnapshot(b *testing.B) {
	requireKernel(b)
	s, err := Open(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	n := 0
	for b.Loop() {
		procs, err := s.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		n = len(procs)
	}
	b.ReportMetric(float64(n), "processes")
}

// timeWorkload runs the test binary as a workload with env, which prints
// the nanoseconds its loop of b.N rounds took, and reports them per round
// as unit; with a sensor, also its drops and the BPF time per syscall (or
// per round, perRound).
func timeWorkload(b *testing.B, s *Sensor, env []string, unit string, perRound bool) {
	b.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), env...)
	b.ResetTimer()
	out, err := cmd.Output()
	b.StopTimer()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		b.Fatalf("workload: %v\n%s", err, ee.Stderr)
	} else if err != nil {
		b.Fatal(err)
	}
	ns, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(ns/float64(b.N), unit)
	if s == nil {
		return
	}
	st, err := s.Stats()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(st.Drops), "drops")
	// sys_exit runs for every syscall on the machine; most are filtered
	// out after a map lookup.
	if ps, err := s.objs.SysExit.Stats(); err == nil && ps.RunCount > 0 {
		if perRound {
			b.ReportMetric(float64(ps.Runtime.Nanoseconds())/float64(b.N), "bpf-ns/op")
		} else {
			b.ReportMetric(float64(ps.Runtime.Nanoseconds())/float64(ps.RunCount), "bpf-ns/syscall")
		}
	}
}

// drainedSensor opens a sensor whose records a goroutine reads and drops,
// with the kernel counting the programs' run time, until the benchmark
// ends.
func drainedSensor(b *testing.B, opts Options) *Sensor {
	b.Helper()
	if stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME)); err == nil {
		b.Cleanup(func() { stats.Close() })
	}
	s, err := Open(opts)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		var r Record
		for s.Read(ctx, &r) == nil {
		}
	}()
	b.Cleanup(func() {
		cancel()
		<-done
		s.Close()
	})
	return s
}
