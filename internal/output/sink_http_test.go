package output

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// sidekickPayload is what falcosidekick decodes from Falco's POST.
type sidekickPayload struct {
	Output       string         `json:"output"`
	Priority     string         `json:"priority"`
	Rule         string         `json:"rule"`
	Time         time.Time      `json:"time"`
	OutputFields map[string]any `json:"output_fields"`
	Source       string         `json:"source"`
	Tags         []string       `json:"tags"`
	Hostname     string         `json:"hostname"`
}

// sidekickPriorities are the priority names falcosidekick understands; any
// other decodes to its empty default, which it rejects.
var sidekickPriorities = map[string]bool{
	"emergency": true, "alert": true, "critical": true, "error": true, "warning": true,
	"notice": true, "informational": true, "info": true, "debug": true,
}

// checkSidekick validates a request the way falcosidekick's main handler
// does: a POST whose JSON body has a known priority, a rule, an RFC 3339
// time and non-empty output_fields.
func checkSidekick(r *http.Request) (sidekickPayload, error) {
	var p sidekickPayload
	if r.Method != http.MethodPost {
		return p, errors.New("not a POST")
	}
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(&p); err != nil {
		return p, err
	}
	switch {
	case !sidekickPriorities[strings.ToLower(p.Priority)]:
		return p, errors.New("bad priority")
	case p.Rule == "":
		return p, errors.New("no rule")
	case p.Time.IsZero():
		return p, errors.New("no time")
	case len(p.OutputFields) == 0:
		return p, errors.New("no output_fields")
	}
	return p, nil
}

// sidekick is a falcosidekick stand-in listening on loopback. It records the
// seq field of every accepted alert and can be killed and restarted on the
// same address.
type sidekick struct {
	t    *testing.T
	addr string
	srv  *http.Server

	mu       sync.Mutex
	seqs     []int
	payloads []sidekickPayload
	headers  []http.Header
	rejected int
	requests int
	// status, when non-empty, is answered (and consumed) before accepting.
	status []int

	conns atomic.Int32 // connections accepted
}

func newSidekick(t *testing.T) *sidekick {
	k := &sidekick{t: t, addr: "127.0.0.1:0"}
	k.start()
	t.Cleanup(k.kill)
	return k
}

func (k *sidekick) url() string { return "http://" + k.addr + "/" }

func (k *sidekick) start() {
	ln, err := net.Listen("tcp", k.addr)
	if err != nil {
		k.t.Fatal(err)
	}
	k.addr = ln.Addr().String()
	k.srv = &http.Server{
		Handler: http.HandlerFunc(k.serve),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				k.conns.Add(1)
			}
		},
	}
	go func() { _ = k.srv.Serve(ln) }()
}

// kill stops the receiver at once, closing its connections.
func (k *sidekick) kill() { _ = k.srv.Close() }

func (k *sidekick) serve(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.requests++
	k.headers = append(k.headers, r.Header.Clone())
	if len(k.status) > 0 {
		code := k.status[0]
		k.status = k.status[1:]
		if code == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		w.WriteHeader(code)
		return
	}
	p, err := checkSidekick(r)
	if err != nil || r.Header.Get("Content-Type") != "application/json" {
		k.rejected++
		http.Error(w, "Please send a valid request body", http.StatusBadRequest)
		return
	}
	seq, _ := p.OutputFields["seq"].(json.Number).Int64()
	k.seqs = append(k.seqs, int(seq))
	k.payloads = append(k.payloads, p)
	_, _ = w.Write([]byte("ok\n"))
}

func (k *sidekick) got() []int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]int(nil), k.seqs...)
}

// fastRetry retries forever with short waits, for tests.
var fastRetry = RetryPolicy{MaxRetries: -1, InitialBackoff: 2 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}

func TestSidekickCheckRejectsWhatFalcosidekickRejects(t *testing.T) {
	valid := `{"rule":"r","priority":"Warning","time":"2016-08-04T16:17:57.881781397Z","output_fields":{"proc.name":"sh"}}`
	cases := []struct {
		name, body string
		ok         bool
	}{
		{"valid", valid, true},
		{"no rule", `{"priority":"Warning","time":"2016-08-04T16:17:57Z","output_fields":{"a":1}}`, false},
		{"no priority", `{"rule":"r","time":"2016-08-04T16:17:57Z","output_fields":{"a":1}}`, false},
		{"unknown priority", `{"rule":"r","priority":"Severe","time":"2016-08-04T16:17:57Z","output_fields":{"a":1}}`, false},
		{"no time", `{"rule":"r","priority":"Warning","output_fields":{"a":1}}`, false},
		{"time not RFC 3339", `{"rule":"r","priority":"Warning","time":"16:17:57.881781397","output_fields":{"a":1}}`, false},
		{"empty output_fields", `{"rule":"r","priority":"Warning","time":"2016-08-04T16:17:57Z","output_fields":{}}`, false},
		{"no output_fields", `{"rule":"r","priority":"Warning","time":"2016-08-04T16:17:57Z"}`, false},
		{"not JSON", `rule=r`, false},
	}
	for _, c := range cases {
		r, _ := http.NewRequest(http.MethodPost, "/", strings.NewReader(c.body))
		_, err := checkSidekick(r)
		if (err == nil) != c.ok {
			t.Errorf("%s: error %v, want ok=%v", c.name, err, c.ok)
		}
	}
}

func TestHTTPSinkPostsFalcoJSONThatFalcosidekickAccepts(t *testing.T) {
	k := newSidekick(t)
	s, err := NewHTTPSink(HTTPOptions{
		URL:       k.url(),
		UserAgent: "truesight/test",
		Headers:   map[string]string{"Authorization": "Bearer s3cret", "Content-Type": "text/plain"},
	})
	if err != nil {
		t.Fatal(err)
	}
	d := NewDispatcher(quiet, Output{Name: "http", Sink: s})
	for i := range 3 {
		d.Send(testAlert(i))
	}
	closeNow(t, d)
	if got := k.got(); !equalInts(got, []int{0, 1, 2}) || k.rejected != 0 {
		t.Fatalf("accepted %v, rejected %d", got, k.rejected)
	}
	p := k.payloads[0]
	if p.Rule != "Write below etc" || p.Priority != "Warning" || p.Source != "syscall" || p.Hostname != "node1" ||
		!p.Time.Equal(time.Unix(0, alertTime)) || p.OutputFields["proc.name"] != "sh" ||
		strings.Join(p.Tags, ",") != "T1098,filesystem" {
		t.Errorf("payload %+v", p)
	}
	h := k.headers[0]
	for name, want := range map[string]string{
		"Content-Type": "application/json", "User-Agent": "truesight/test", "Authorization": "Bearer s3cret",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("header %s = %q, want %q", name, got, want)
		}
	}
}

func TestHTTPSinkKeepAlive(t *testing.T) {
	cases := []struct {
		disable bool
		conns   int32
	}{{false, 1}, {true, 20}}
	for _, c := range cases {
		k := newSidekick(t)
		s, err := NewHTTPSink(HTTPOptions{URL: k.url(), DisableKeepAlive: c.disable})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			if err := s.Write(context.Background(), testAlert(i)); err != nil {
				t.Fatal(err)
			}
		}
		_ = s.Close()
		if got := k.conns.Load(); got != c.conns {
			t.Errorf("DisableKeepAlive=%v: %d connections for 20 alerts, want %d", c.disable, got, c.conns)
		}
	}
}

func TestHTTPSinkRetriesOnlyWhatRetryingCanFix(t *testing.T) {
	cases := []struct {
		name     string
		status   []int
		retry    RetryPolicy
		ok       bool
		requests int
	}{
		{"503 twice then accepted", []int{503, 503}, fastRetry, true, 3},
		{"429 with Retry-After then accepted", []int{429}, fastRetry, true, 2},
		{"408 then accepted", []int{408}, fastRetry, true, 2},
		{"400 is final", []int{400}, fastRetry, false, 1},
		{"404 is final", []int{404}, fastRetry, false, 1},
		{"retries exhausted", []int{500, 500, 500}, RetryPolicy{MaxRetries: 2, InitialBackoff: time.Millisecond}, false, 3},
		{"no retries", []int{502}, RetryPolicy{}, false, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k := newSidekick(t)
			k.status = c.status
			s, err := NewHTTPSink(HTTPOptions{URL: k.url(), Retry: c.retry})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = s.Close() }()
			start := time.Now()
			err = s.Write(context.Background(), testAlert(7))
			if (err == nil) != c.ok {
				t.Errorf("error %v, want ok=%v", err, c.ok)
			}
			if el := time.Since(start); el > time.Second {
				t.Errorf("took %v: Retry-After not capped by MaxBackoff", el)
			}
			if k.requests != c.requests {
				t.Errorf("%d requests, want %d", k.requests, c.requests)
			}
			want := []int(nil)
			if c.ok {
				want = []int{7}
			}
			if got := k.got(); !equalInts(got, want) {
				t.Errorf("accepted %v, want %v", got, want)
			}
		})
	}
}

func TestHTTPSinkRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"", "localhost:2801", "ftp://host/", "http://", "http://[::1"} {
		if _, err := NewHTTPSink(HTTPOptions{URL: u}); err == nil {
			t.Errorf("%q: no error", u)
		}
	}
}

// TestHTTPSinkSurvivesReceiverRestart kills the receiver mid-stream and
// brings it back: every alert that fit in the queue arrives exactly once
// and in order, and the overflow is counted and reported.
func TestHTTPSinkSurvivesReceiverRestart(t *testing.T) {
	k := newSidekick(t)
	s, err := NewHTTPSink(HTTPOptions{URL: k.url(), Retry: fastRetry})
	if err != nil {
		t.Fatal(err)
	}
	watch := &memorySink{}
	opts := quiet
	opts.ReportInterval = 20 * time.Millisecond
	const capacity = 100
	d := NewDispatcher(opts, Output{Name: "http", Sink: s, Capacity: capacity}, Output{Name: "watch", Sink: watch})

	for i := range 50 {
		d.Send(testAlert(i))
	}
	eventually(t, "first 50 alerts", func() bool { return d.Stats()[0].Sent == 50 })

	k.kill()
	d.Send(testAlert(50))
	eventually(t, "the sink to retry alert 50", func() bool { return d.Stats()[0].Queued == 0 })
	for i := 51; i < 351; i++ {
		d.Send(testAlert(i))
	}
	st := d.Stats()[0]
	if st.Queued != capacity || st.Dropped != 200 {
		t.Fatalf("while down: %+v, want %d queued and 200 dropped", st, capacity)
	}
	time.Sleep(50 * time.Millisecond) // a few failed attempts
	k.start()
	eventually(t, "the queued alerts", func() bool { return d.Stats()[0].Sent == 151 })
	closeNow(t, d)

	want := make([]int, 151)
	for i := range want {
		want[i] = i
	}
	if got := k.got(); !equalInts(got, want) {
		t.Errorf("receiver got %d alerts %v, want 0..150 once each in order", len(got), got)
	}
	if st := d.Stats()[0]; st.Sent != 151 || st.Dropped != 200 || st.Failed != 0 || st.Queued != 0 {
		t.Errorf("final stats %+v", st)
	}
	var reported uint64
	for _, a := range watch.got() {
		if a.Rule == InternalRule && a.Fields["output.name"] == "http" {
			reported = a.Fields["output.dropped_total"].(uint64)
		}
	}
	if reported != 200 {
		t.Errorf("reported %d dropped, want 200", reported)
	}
}

// certs writes a CA, a server certificate for 127.0.0.1 and a client
// certificate, all signed by the CA, as PEM files in dir.
func certs(t *testing.T, dir string) (ca *x509.CertPool, server tls.Certificate) {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, typ string, der []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	caKey := key()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	write("ca.pem", "CERTIFICATE", caDER)
	issue := func(serial int64, name string, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		k := key()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature,
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	srvDER, srvKey := issue(2, "127.0.0.1", x509.ExtKeyUsageServerAuth)
	cliDER, cliKey := issue(3, "truesight", x509.ExtKeyUsageClientAuth)
	write("client.pem", "CERTIFICATE", cliDER)
	cliKeyDER, _ := x509.MarshalECPrivateKey(cliKey)
	write("client.key", "EC PRIVATE KEY", cliKeyDER)
	ca = x509.NewCertPool()
	ca.AddCert(caCert)
	return ca, tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}
}

func TestHTTPSinkTLSWithCAAndClientCertificate(t *testing.T) {
	dir := t.TempDir()
	ca, srvCert := certs(t, dir)
	var accepted atomic.Int32
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{srvCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    ca,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ErrorLog: log.New(io.Discard, "", 0), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := checkSidekick(r); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		accepted.Add(1)
	})}
	go func() { _ = srv.Serve(ln) }()
	defer func() { _ = srv.Close() }()
	url := "https://" + ln.Addr().String() + "/"
	p := func(name string) string { return filepath.Join(dir, name) }
	cases := []struct {
		name string
		tls  TLSOptions
		ok   bool
	}{
		{"CA and client certificate", TLSOptions{CACert: p("ca.pem"), ClientCert: p("client.pem"), ClientKey: p("client.key")}, true},
		{"CA bundle", TLSOptions{CABundle: p("ca.pem"), ClientCert: p("client.pem"), ClientKey: p("client.key")}, true},
		{"insecure", TLSOptions{Insecure: true, ClientCert: p("client.pem"), ClientKey: p("client.key")}, true},
		{"system roots do not know the CA", TLSOptions{ClientCert: p("client.pem"), ClientKey: p("client.key")}, false},
		{"no client certificate", TLSOptions{CACert: p("ca.pem")}, false},
	}
	for _, c := range cases {
		before := accepted.Load()
		s, err := NewHTTPSink(HTTPOptions{URL: url, TLS: c.tls})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		err = s.Write(context.Background(), testAlert(1))
		_ = s.Close()
		if (err == nil) != c.ok || (accepted.Load() == before+1) != c.ok {
			t.Errorf("%s: error %v, want ok=%v", c.name, err, c.ok)
		}
	}
}

func TestTLSOptionsReportBadFiles(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		o    TLSOptions
		want string
	}{
		{"missing CA", TLSOptions{CACert: filepath.Join(dir, "nope.pem")}, "read CA certificate"},
		{"CA without PEM", TLSOptions{CACert: junk}, "no PEM certificate found"},
		{"empty CA directory", TLSOptions{CAPath: t.TempDir()}, "no PEM certificate found"},
		{"missing client key", TLSOptions{ClientCert: junk}, "load client certificate"},
	}
	for _, c := range cases {
		_, err := c.o.Config()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
}
