package web

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/truesightsec/truesight/internal/output"
	"github.com/truesightsec/truesight/internal/version"
)

var quietLog = slog.New(slog.DiscardHandler)

// serve starts a server on a free loopback port and stops it at the end of
// the test.
func serve(t *testing.T, o Options) (*Server, string) {
	t.Helper()
	o.Address = "127.0.0.1:0"
	o.Logger = quietLog
	s, err := Listen(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(c); err != nil {
			t.Error(err)
		}
	})
	return s, "http://" + s.Addr()
}

func get(t *testing.T, c *http.Client, url string) (int, string, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

func TestHealthzAndVersions(t *testing.T) {
	var health error
	_, base := serve(t, Options{HealthzPath: "/livez", Health: func() error { return health }})
	wantVersions := `{"truesight_version":"` + version.Version + `","engine_version":"57","engine_version_semver":"0.57.0","go_version":"` + runtime.Version() + `"}` + "\n"
	cases := []struct {
		name, path string
		health     error
		status     int
		body       string
	}{
		{"healthy", "/livez", nil, 200, `{"status":"ok"}` + "\n"},
		{"unhealthy", "/livez", errors.New("sensor stopped"), 503, `{"error":"sensor stopped","status":"error"}` + "\n"},
		{"versions", "/versions", nil, 200, wantVersions},
		{"default path not served when renamed", "/healthz", nil, 404, "404 page not found\n"},
		{"no metrics without Metrics", "/metrics", nil, 404, "404 page not found\n"},
	}
	for _, c := range cases {
		health = c.health
		status, ctype, body := get(t, http.DefaultClient, base+c.path)
		if status != c.status || body != c.body {
			t.Errorf("%s: %d %q, want %d %q", c.name, status, body, c.status, c.body)
		}
		if c.status != 404 && ctype != "application/json" {
			t.Errorf("%s: content type %q", c.name, ctype)
		}
	}
}

// blockedSink holds every write until the test ends.
type blockedSink struct{ release chan struct{} }

func (s blockedSink) Write(ctx context.Context, _ *output.Alert) error {
	select {
	case <-s.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
func (s blockedSink) Close() error { return nil }

func TestMetricsServesCountersAndObservedFigures(t *testing.T) {
	m := NewMetrics()
	openat := m.EventCounter("openat")
	for range 3 {
		openat.Inc()
	}
	m.EventCounter("execve").Inc()
	m.Alert("Write below etc", "Error")
	m.Alert("Write below etc", "Error")
	m.RuleEvaluation.Observe(2e-6)
	m.Reload(true)
	m.Reload(false)
	m.Reload(true)
	m.ObserveKernel(func() KernelCounts { return KernelCounts{Drops: 17, Skipped: 23} })
	m.ObserveProcessTable(func() int { return 321 })

	// A real dispatcher whose http output is stuck: one alert in flight,
	// two queued, two dropped.
	sink := blockedSink{release: make(chan struct{})}
	d := output.NewDispatcher(output.DispatcherOptions{ReportInterval: -1, Logger: quietLog},
		output.Output{Name: "http", Sink: sink, Capacity: 2})
	defer func() {
		close(sink.release)
		_ = d.Close(context.Background())
	}()
	d.Send(&output.Alert{Rule: "r"})
	for d.Stats()[0].Queued != 0 {
		time.Sleep(time.Millisecond)
	}
	for range 4 {
		d.Send(&output.Alert{Rule: "r"})
	}
	m.ObserveOutputs(d.Stats)
	m.ObserveSuppressed(d.Suppressed)

	_, base := serve(t, Options{Metrics: m})
	status, ctype, body := get(t, http.DefaultClient, base+"/metrics")
	if status != 200 || !strings.HasPrefix(ctype, "text/plain") {
		t.Fatalf("status %d, content type %q", status, ctype)
	}
	for _, want := range []string{
		`truesight_events_total{type="openat"} 3`,
		`truesight_events_total{type="execve"} 1`,
		`truesight_alerts_total{priority="Error",rule="Write below etc"} 2`,
		`truesight_rule_evaluation_seconds_count 1`,
		`truesight_rule_evaluation_seconds_bucket{le="6.4e-06"} 1`,
		`truesight_rules_reloads_total{result="ok"} 2`,
		`truesight_rules_reloads_total{result="failed"} 1`,
		`truesight_kernel_drops_total 17`,
		`truesight_kernel_skipped_total 23`,
		`truesight_process_table_size 321`,
		`truesight_output_queue_depth{output="http"} 2`,
		`truesight_output_queue_capacity{output="http"} 2`,
		`truesight_output_alerts_sent_total{output="http"} 0`,
		`truesight_output_alerts_failed_total{output="http"} 0`,
		`truesight_output_alerts_dropped_total{output="http"} 2`,
		`truesight_alerts_suppressed_total 0`,
		`truesight_build_info{engine_version="0.57.0",goversion="` + runtime.Version() + `",version="` + version.Version + `"} 1`,
		`go_goroutines `,
		`process_open_fds `,
	} {
		if !strings.Contains(body, "\n"+want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "truesight_") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}

func TestMetricsWithoutSourcesStillServe(t *testing.T) {
	mfs, err := NewMetrics().Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "truesight_kernel_drops_total", "truesight_output_queue_depth", "truesight_process_table_size":
			t.Errorf("%s served without a source", mf.GetName())
		}
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key into one PEM
// file, as Falco's ssl_certificate holds them.
func selfSigned(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "truesight"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	data := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})...)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert
}

func TestServesHTTPSWithFalcoStyleCertificate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "truesight.pem")
	cert := selfSigned(t, path)
	s, _ := serve(t, Options{CertFile: path})
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	status, _, body := get(t, c, "https://"+s.Addr()+"/healthz")
	if status != 200 || body != `{"status":"ok"}`+"\n" {
		t.Errorf("%d %q", status, body)
	}
}

func TestListenReportsStartupProblems(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = busy.Close() }()
	junk := filepath.Join(t.TempDir(), "junk.pem")
	if err := os.WriteFile(junk, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		o    Options
		want string
	}{
		{"port in use", Options{Address: busy.Addr().String()}, "address already in use"},
		{"missing certificate", Options{Address: "127.0.0.1:0", CertFile: filepath.Join(t.TempDir(), "none.pem")}, "webserver certificate: open"},
		{"certificate without key", Options{Address: "127.0.0.1:0", CertFile: junk}, "want the certificate and its private key in one PEM file"},
	}
	for _, c := range cases {
		s, err := Listen(c.o)
		if err == nil {
			_ = s.Shutdown(context.Background())
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
}
