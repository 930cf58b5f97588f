package console

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/truesightsec/truesight/internal/config"
	"github.com/truesightsec/truesight/internal/output"
)

// envInt reads a positive integer from the environment, else def.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// loadClient is one live stream read over loopback HTTP, as a browser's
// EventSource reads it; a slow one reads at most rate events a second.
type loadClient struct {
	rate      int // 0: as fast as it can
	delivered atomic.Uint64
	dropped   atomic.Uint64 // the last "dropped" event's count
	err       error
}

func (c *loadClient) read(ctx context.Context, url string, ready *sync.WaitGroup) {
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	ready.Done()
	if err != nil {
		c.err = err
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		c.err = fmt.Errorf("status %d", resp.StatusCode)
		return
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	began := time.Now()
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case len(line) > 17 && string(line[:17]) == `data: {"dropped":`:
			n, _ := strconv.ParseUint(strings.TrimSuffix(string(line[17:]), "}"), 10, 64)
			c.dropped.Store(n)
		case len(line) > 6 && string(line[:6]) == "data: ":
			d := c.delivered.Add(1)
			if c.rate > 0 {
				if ahead := time.Duration(d)*time.Second/time.Duration(c.rate) - time.Since(began); ahead > 0 {
					time.Sleep(ahead)
				}
			}
		}
	}
}

// BenchmarkConsoleLoad is issue 17's load case: 10 live streams (as many
// browsers, over loopback HTTP; two of them read only 2,000 events a
// second) while alerts come at 10,000 a second for 30 seconds, each a
// realistic alert of the seed's rule. It reports how long the slowest
// Observe (the agent pipeline's call) took, the drops counted for the
// slow clients and whether every client's delivered plus dropped adds up
// to all alerts, and the heap's peak. Set TRUESIGHT_BENCH_SECONDS,
// TRUESIGHT_BENCH_RATE and TRUESIGHT_BENCH_CLIENTS to change the case;
// scripts/bench-console.sh runs it. One run whatever b.N: the case is a
// fixed duration.
func BenchmarkConsoleLoad(b *testing.B) {
	seconds := envInt("TRUESIGHT_BENCH_SECONDS", 30)
	rate := envInt("TRUESIGHT_BENCH_RATE", 10_000)
	nClients := envInt("TRUESIGHT_BENCH_CLIENTS", 10)
	cfg := config.Console{Enabled: true, AlertRing: 10_000, ClientQueue: 1024, Findings: 10_000} // the defaults
	c := New(cfg)
	srv := httptest.NewServer(c.Handler(testToken))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	clients := make([]*loadClient, nClients)
	var ready, done sync.WaitGroup
	for i := range clients {
		clients[i] = &loadClient{}
		if i >= nClients-2 {
			clients[i].rate = 2000
		}
		ready.Add(1)
		done.Add(1)
		go func() { defer done.Done(); clients[i].read(ctx, srv.URL+"/ui/api/events", &ready) }()
	}
	ready.Wait()
	for _, _, n, _ := c.alerts.stats(); n != nClients; _, _, n, _ = c.alerts.stats() {
		time.Sleep(10 * time.Millisecond)
	}

	// A script polls the alerts with a text filter (the whole ring
	// searched) ten times a second meanwhile.
	var polls atomic.Uint64
	done.Add(1)
	go func() {
		defer done.Done()
		for ctx.Err() == nil {
			req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/ui/api/alerts?q=no-such-text&limit=1000", nil)
			req.Header.Set("Authorization", "Bearer "+testToken)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				polls.Add(1)
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()

	al := &output.Alert{Rule: "Modify ld.so.preload of another container", Priority: "Critical", Source: "syscall", Hostname: "node-1",
		Tags: []string{"T1574.006", "container", "filesystem", "mitre_persistence"},
		Message: "Preload file of another container opened for writing (file=/proc/6/root/etc/ld.so.preload path_given=/proc/6/root/etc/ld.so.preload " +
			"target_container_id=3003249e82b3 target_container_name=sidecar user=root command=sh -c echo /tmp/libx.so > /proc/6/root/etc/ld.so.preload " +
			"pid=20904 parent=containerd-shim container_id=5f4391197cb9 container_name=nginx image=docker.io/library/nginx:1.27 k8s_ns=default k8s_pod_name=shared)",
		Fields: map[string]any{"fd.name": "/proc/6/root/etc/ld.so.preload", "container.id": "5f4391197cb9", "container.name": "nginx",
			"k8s.pod.name": "shared", "k8s.ns.name": "default", "proc.cmdline": "sh -c echo /tmp/libx.so > /proc/6/root/etc/ld.so.preload",
			"proc.pid": int64(20904), "proc.pname": "containerd-shim", "user.name": "root", "container.image.repository": "docker.io/library/nginx"}}

	var heapPeak uint64
	var ms runtime.MemStats
	sampleHeap := func() {
		runtime.ReadMemStats(&ms)
		heapPeak = max(heapPeak, ms.HeapInuse)
	}
	mutexWait := func() float64 {
		sm := []metrics.Sample{{Name: "/sync/mutex/wait/total:seconds"}}
		metrics.Read(sm)
		if sm[0].Value.Kind() != metrics.KindFloat64 {
			return 0
		}
		return sm[0].Value.Float64()
	}
	waitBefore := mutexWait()
	total := seconds * rate
	lat := make([]time.Duration, 0, total)
	// base times a step that only spins for spin (about what an Observe
	// takes), right after each Observe: what the machine's scheduling
	// alone does to a measurement of that length.
	const spin = 8 * time.Microsecond
	base := make([]time.Duration, 0, total)
	var sink uint64
	b.ResetTimer()
	began := time.Now()
	lastSample := began
	for i := range total {
		// Paced: alert i is due at i/rate seconds.
		if ahead := time.Duration(i)*time.Second/time.Duration(rate) - time.Since(began); ahead > 0 {
			time.Sleep(ahead)
		}
		al.Time = time.Now().UnixNano()
		t0 := time.Now()
		c.Observe(al)
		lat = append(lat, time.Since(t0))
		t1 := time.Now()
		for time.Since(t1) < spin {
			sink++
		}
		base = append(base, time.Since(t1))
		if time.Since(lastSample) > 250*time.Millisecond {
			sampleHeap()
			lastSample = time.Now()
		}
	}
	elapsed := time.Since(began)
	waited := mutexWait() - waitBefore
	b.StopTimer()
	// Let the streams drain what they still have queued.
	for quiet := 0; quiet < 10; {
		before := uint64(0)
		for _, cl := range clients {
			before += cl.delivered.Load()
		}
		time.Sleep(200 * time.Millisecond)
		after := uint64(0)
		for _, cl := range clients {
			after += cl.delivered.Load()
		}
		if after == before {
			quiet++
		} else {
			quiet = 0
		}
	}
	sampleHeap()
	cancel()
	done.Wait()

	slices.Sort(lat)
	slices.Sort(base)
	var delivered, fastDrops, slowDrops uint64
	consistent := true
	for i, cl := range clients {
		if cl.rate > 0 {
			slowDrops += cl.dropped.Load()
		} else {
			fastDrops += cl.dropped.Load()
		}
		if cl.err != nil {
			b.Fatalf("client %d: %v", i, cl.err)
		}
		delivered += cl.delivered.Load()
		if cl.delivered.Load()+cl.dropped.Load() != uint64(total) {
			consistent = false
			b.Logf("client %d (rate %d): %d delivered + %d dropped != %d", i, cl.rate, cl.delivered.Load(), cl.dropped.Load(), total)
		}
	}
	b.Logf("%d alerts in %v (%.0f/s) to %d clients: %d delivered, %d dropped (console counted %d), every client's delivered+dropped = all: %v",
		total, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(), nClients, delivered, c.alerts.Dropped.Load(), c.alerts.Dropped.Load(), consistent)
	b.Logf("drops: %d by the %d slow clients, %d by the %d fast ones", slowDrops, min(2, nClients), fastDrops, max(0, nClients-2))
	b.Logf("%d polls of /ui/api/alerts?q= meanwhile; all goroutines together waited %.1f ms on mutexes", polls.Load(), waited*1e3)
	b.Logf("Observe: p50 %v, p99 %v, p99.99 %v, max %v; heap in use peak %.1f MiB",
		lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)*9999/10000], lat[len(lat)-1], float64(heapPeak)/(1<<20))
	b.Logf("a %v spin timed alike (the machine's scheduling alone): p99 %v, p99.99 %v, max %v (%d spins)",
		spin, base[len(base)*99/100], base[len(base)*9999/10000], base[len(base)-1], sink)
	b.ReportMetric(float64(total)/elapsed.Seconds(), "alerts/s")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-observe-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Nanoseconds())/1e3, "max-observe-µs")
	b.ReportMetric(float64(c.alerts.Dropped.Load()), "drops")
	b.ReportMetric(float64(heapPeak)/(1<<20), "heap-peak-MiB")
	if !consistent {
		b.Error("a client's delivered and dropped alerts do not add up to all alerts: a drop went uncounted")
	}
}
