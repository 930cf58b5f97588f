package output

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// reportRate adds an alerts/s figure to a benchmark, and the CPU time the
// whole process spent per alert, which a busy machine does not distort.
func reportRate(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "alerts/s")
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/alert")
}

// cpuTime is the user and system time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFileSink measures alerts per second appended to a file, the way
// a worker drives the sink (a flush per batch), and end to end through a
// Dispatcher. Target: at least 100,000 alerts/s.
func BenchmarkFileSink(b *testing.B) {
	jsonEnc := utcText
	jsonEnc.JSON = true
	for _, enc := range []struct {
		name string
		enc  Encoding
	}{{"text", utcText}, {"json", jsonEnc}} {
		b.Run(enc.name+"/sink", func(b *testing.B) {
			s, err := NewFileSink(FileOptions{Path: filepath.Join(b.TempDir(), "events"), Encoding: enc.enc})
			if err != nil {
				b.Fatal(err)
			}
			a := testAlert(1)
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime()
			for i := range b.N {
				if err := s.Write(context.Background(), a); err != nil {
					b.Fatal(err)
				}
				if i%flushBatch == flushBatch-1 {
					if err := s.Flush(); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			reportRate(b, cpu)
		})
		b.Run(enc.name+"/dispatcher", func(b *testing.B) {
			s, err := NewFileSink(FileOptions{Path: filepath.Join(b.TempDir(), "events"), Encoding: enc.enc})
			if err != nil {
				b.Fatal(err)
			}
			// A queue as long as the run, so that nothing is dropped and
			// Close measures the drain.
			d := NewDispatcher(quiet, Output{Name: "file", Sink: s, Capacity: b.N})
			a := testAlert(1)
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime()
			for range b.N {
				d.Send(a)
			}
			if err := d.Close(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if st := d.Stats()[0]; st.Sent != uint64(b.N) {
				b.Fatalf("sent %d of %d", st.Sent, b.N)
			}
			reportRate(b, cpu)
		})
	}
}

// BenchmarkHTTPSink measures alerts per second POSTed one per request over
// a kept-alive loopback connection to a receiver that validates each
// payload as falcosidekick does. Target: at least 10,000 alerts/s.
func BenchmarkHTTPSink(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := checkSidekick(r); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	}), ReadHeaderTimeout: time.Minute}
	go func() { _ = srv.Serve(ln) }()
	defer func() { _ = srv.Close() }()
	s, err := NewHTTPSink(HTTPOptions{URL: "http://" + ln.Addr().String() + "/"})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	a := testAlert(1)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	for range b.N {
		if err := s.Write(context.Background(), a); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, cpu)
}
