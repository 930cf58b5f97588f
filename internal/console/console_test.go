package console

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/truesightsec/truesight/internal/config"
	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/output"
	"github.com/truesightsec/truesight/internal/rules"
	"github.com/truesightsec/truesight/internal/state"
)

const testToken = "0123456789abcdef-test-token"

func testConfig() config.Console {
	return config.Console{Enabled: true, AlertRing: 8, ClientQueue: 4, Findings: 4}
}

func testAlert(i int, rule, priority, ctr string) *output.Alert {
	return &output.Alert{Time: int64(1_700_000_000_000_000_000 + i), Rule: rule, Priority: priority, Source: "syscall",
		Hostname: "h", Message: fmt.Sprintf("alert %d", i),
		Fields: map[string]any{"container.id": ctr, "proc.pid": int64(100 + i), "k8s.pod.name": nil}}
}

func seqs(es []*alertEntry) []uint64 {
	var out []uint64
	for _, e := range es {
		out = append(out, e.Seq)
	}
	return out
}

// A client that never reads loses alerts beyond its queue, counted, and
// the alert source is never held up by it.
func TestSlowClientLosesAlertsCountedAndNeverBlocks(t *testing.T) {
	h := newAlertHub(8, 4)
	slow, _ := h.subscribe(0, nil, 8)
	done := make(chan struct{})
	go func() {
		for i := range 100 {
			h.add(newAlertEntry(testAlert(i, "r", "Warning", "host")))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("adding alerts blocked on a client that does not read")
	}
	if got := slow.dropped.Load(); got != 96 {
		t.Errorf("client dropped %d alerts, want 96", got)
	}
	if got := h.Dropped.Load(); got != 96 {
		t.Errorf("hub counted %d drops, want 96", got)
	}
	if got := len(slow.ch); got != 4 {
		t.Errorf("client queue holds %d, want 4", got)
	}
	if got := seqs(h.since(0, nil, 100)); !slices.Equal(got, []uint64{93, 94, 95, 96, 97, 98, 99, 100}) {
		t.Errorf("ring keeps %v, want the last 8 (93..100)", got)
	}
}

func TestRingSinceAndLimit(t *testing.T) {
	h := newAlertHub(8, 4)
	for i := range 5 {
		h.add(newAlertEntry(testAlert(i, "r", "Warning", "host")))
	}
	cases := []struct {
		name  string
		since uint64
		limit int
		want  []uint64
	}{
		{"everything", 0, 100, []uint64{1, 2, 3, 4, 5}},
		{"after seq 3", 3, 100, []uint64{4, 5}},
		{"the newest 2", 0, 2, []uint64{4, 5}},
		{"nothing after the last", 5, 100, nil},
		{"a seq from the future", 99, 100, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := seqs(h.since(c.since, nil, c.limit)); !slices.Equal(got, c.want) {
				t.Errorf("since(%d, limit %d) = %v, want %v", c.since, c.limit, got, c.want)
			}
		})
	}
}

func TestAlertFilters(t *testing.T) {
	al := testAlert(1, "Modify ld.so.preload", "Warning", "0123456789ab")
	al.Fields["container.name"] = "sidecar"
	al.Fields["k8s.pod.name"] = "shared"
	e := newAlertEntry(al)
	crit, _ := rules.ParsePriority("critical")
	notice, _ := rules.ParsePriority("notice")
	cases := []struct {
		name string
		f    alertFilter
		want bool
	}{
		{"no criteria", alertFilter{MinPriority: -1}, true},
		{"priority at least notice", alertFilter{MinPriority: notice}, true},
		{"priority at least critical", alertFilter{MinPriority: crit}, false},
		{"rule", alertFilter{MinPriority: -1, Rule: "Modify ld.so.preload"}, true},
		{"other rule", alertFilter{MinPriority: -1, Rule: "Modify"}, false},
		{"container by short id", alertFilter{MinPriority: -1, Container: "0123456789ab"}, true},
		{"container by full id", alertFilter{MinPriority: -1, Container: "0123456789ab" + strings.Repeat("f", 52)}, true},
		{"container by name", alertFilter{MinPriority: -1, Container: "sidecar"}, true},
		{"other container", alertFilter{MinPriority: -1, Container: "nginx"}, false},
		{"pod", alertFilter{MinPriority: -1, Pod: "shared"}, true},
		{"other pod", alertFilter{MinPriority: -1, Pod: "other"}, false},
		{"text, any case", alertFilter{MinPriority: -1, Text: "alert 1"}, true},
		{"text not there", alertFilter{MinPriority: -1, Text: "nothing like it"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.f.match(e); got != c.want {
				t.Errorf("match = %v, want %v", got, c.want)
			}
		})
	}
}

func TestMissingViews(t *testing.T) {
	cases := []struct {
		views string
		want  []string
	}{
		{"seen by kernel,procfs,probe,root procfs; missing from libc(container:abc),libc(LD_PRELOAD=/x.so)", []string{"libc(container:abc)", "libc(LD_PRELOAD=/x.so)"}},
		{"seen by kernel,probe; missing from procfs", []string{"procfs"}},
		{"", nil},
		{"seen by kernel", nil},
	}
	for _, c := range cases {
		if got := missingViews(c.views); !slices.Equal(got, c.want) {
			t.Errorf("missingViews(%q) = %q, want %q", c.views, got, c.want)
		}
	}
}

func findingEvent(kind string, pid int64, lib string) (*event.Event, *state.Process) {
	return &event.Event{Time: 1, Type: event.MustType("hidden_process"), Source: event.SourceTruesight, Pid: pid,
			Finding: &event.Finding{Kind: kind, Library: lib, Root: "container:abc", Detail: map[string]string{"hidden_from_container_id": "sidecarid"}}},
		&state.Process{Pid: pid, Comm: "miner", ContainerID: "nginxid"}
}

// The store keeps the newest findings, a finding reported again counts its
// reports and stays, and every container a finding concerns finds it.
func TestFindingStoreKeepsTheNewestAndCountsReports(t *testing.T) {
	s := newFindingStore(3)
	for pid := int64(1); pid <= 5; pid++ {
		s.add(findingEvent("hidden_process", pid, "/x.so"))
		s.add(findingEvent("hidden_process", 1, "/x.so")) // pid 1 again: the newest every time
	}
	var pids []int64
	for _, f := range s.list("") {
		pids = append(pids, f.Pid)
	}
	if !slices.Equal(pids, []int64{4, 5, 1}) {
		t.Errorf("kept pids %v, want [4 5 1]", pids)
	}
	for _, f := range s.list("") {
		if f.Pid == 1 && f.Reports != 6 {
			t.Errorf("pid 1 reported %d times, want 6", f.Reports)
		}
	}
	for _, id := range []string{"nginxid", "sidecarid"} {
		if n := len(s.list(id)); n != 3 {
			t.Errorf("findings concerning %s: %d, want 3", id, n)
		}
	}
	if n := len(s.list("host")); n != 0 {
		t.Errorf("findings on the host: %d, want 0", n)
	}
}

// newTestServer serves a console (no agent behind it) on loopback.
func newTestServer(t *testing.T) (*Console, *httptest.Server) {
	c := New(testConfig())
	srv := httptest.NewServer(c.Handler(testToken))
	t.Cleanup(srv.Close)
	return c, srv
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func TestAccessNeedsTheToken(t *testing.T) {
	_, srv := newTestServer(t)
	login, err := (&http.Client{CheckRedirect: noRedirect}).Get(srv.URL + "/ui/?token=" + testToken)
	if err != nil {
		t.Fatal(err)
	}
	login.Body.Close()
	var session *http.Cookie
	for _, c := range login.Cookies() {
		if c.Name == cookieName {
			session = c
		}
	}
	if login.StatusCode != http.StatusSeeOther || login.Header.Get("Location") != "/ui/" || session == nil {
		t.Fatalf("token link: status %d, location %q, cookie %v; want 303 to /ui/ with a session cookie", login.StatusCode, login.Header.Get("Location"), session)
	}
	if !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/ui" || session.Value == testToken {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/ui, not the token itself", session)
	}
	cases := []struct {
		name   string
		method string
		path   string
		header string
		cookie string
		want   int
	}{
		{"no credentials", "GET", "/ui/api/health", "", "", 401},
		{"no credentials, the page", "GET", "/ui/", "", "", 401},
		{"wrong bearer token", "GET", "/ui/api/alerts", "Bearer wrong-token-of-some-length", "", 401},
		{"token as basic auth", "GET", "/ui/api/alerts", "Basic " + testToken, "", 401},
		{"bearer token", "GET", "/ui/api/alerts", "Bearer " + testToken, "", 200},
		{"a prefix of the token", "GET", "/ui/api/alerts", "Bearer " + testToken[:10], "", 401},
		{"wrong token link", "GET", "/ui/?token=nope", "", "", 401},
		{"the token link on the API does not log in", "GET", "/ui/api/alerts?token=" + testToken, "", "", 401},
		{"session cookie", "GET", "/ui/api/alerts", "", session.Value, 200},
		{"session cookie, the page", "GET", "/ui/", "", session.Value, 200},
		{"session cookie, the script", "GET", "/ui/app.js", "", session.Value, 200},
		{"forged cookie", "GET", "/ui/api/alerts", "", "forged", 401},
		{"the token as cookie", "GET", "/ui/api/alerts", "", testToken, 401},
		{"read-only: POST", "POST", "/ui/api/alerts", "Bearer " + testToken, "", 405},
		{"unknown endpoint", "GET", "/ui/api/nothing", "Bearer " + testToken, "", 404},
		{"bad filter", "GET", "/ui/api/alerts?priority=severe", "Bearer " + testToken, "", 400},
		{"no agent behind: health", "GET", "/ui/api/health", "Bearer " + testToken, "", 503},
		{"no agent behind: processes", "GET", "/ui/api/processes", "Bearer " + testToken, "", 503},
		{"no agent behind: containers", "GET", "/ui/api/containers", "Bearer " + testToken, "", 503},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
			if c.header != "" {
				req.Header.Set("Authorization", c.header)
			}
			if c.cookie != "" {
				req.AddCookie(&http.Cookie{Name: cookieName, Value: c.cookie})
			}
			resp, err := (&http.Client{CheckRedirect: noRedirect}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Errorf("status %d, want %d", resp.StatusCode, c.want)
			}
			csp := resp.Header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
		})
	}
}

// sseReader reads one SSE stream's events.
type sseEvent struct{ id, event, data string }

func openStream(t *testing.T, ctx context.Context, url string, header map[string]string) <-chan sseEvent {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	ch := make(chan sseEvent, 100)
	go func() {
		defer resp.Body.Close()
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.data != "" {
					ch <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[6:]
			}
		}
	}()
	return ch
}

func next(t *testing.T, ch <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("stream ended")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return sseEvent{}
}

// The stream sends each alert as Falco's JSON, replays what a client
// missed from Last-Event-ID, and applies the filters.
func TestEventsStreamFalcoJSONAndReplay(t *testing.T) {
	c, srv := newTestServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	all := openStream(t, ctx, srv.URL+"/ui/api/events", nil)
	warn := openStream(t, ctx, srv.URL+"/ui/api/events?priority=warning", nil)
	time.Sleep(100 * time.Millisecond) // both are subscribed before the alerts
	a1 := testAlert(1, "r1", "Notice", "host")
	a2 := testAlert(2, "r2", "Critical", "host")
	c.Observe(a1)
	c.Observe(a2)
	for i, want := range []*output.Alert{a1, a2} {
		ev := next(t, all)
		if ev.id != fmt.Sprint(i+1) || ev.data != string(want.JSON(jsonOptions)) {
			t.Errorf("event %d: id %q data %s", i, ev.id, ev.data)
		}
		var j map[string]any
		if err := json.Unmarshal([]byte(ev.data), &j); err != nil || j["rule"] != want.Rule || j["output"] == nil || j["output_fields"] == nil {
			t.Errorf("event %d is not Falco's JSON of the alert: %v %v", i, err, j)
		}
	}
	if ev := next(t, warn); ev.id != "2" {
		t.Errorf("priority=warning stream got seq %s first, want 2 (the Critical alert)", ev.id)
	}
	replay := openStream(t, ctx, srv.URL+"/ui/api/events", map[string]string{"Last-Event-ID": "1"})
	if ev := next(t, replay); ev.id != "2" {
		t.Errorf("replay after 1 starts at %s, want 2", ev.id)
	}
}

// A client that falls behind is told how many alerts it lost: the stream
// is not read while 100,000 alerts come (the socket's buffers fill, then
// its queue of 1), and once read, its last "dropped" event counts exactly
// the drops the console counted.
func TestEventsStreamReportsDrops(t *testing.T) {
	cfg := testConfig()
	cfg.ClientQueue = 1
	c := New(cfg)
	srv := httptest.NewServer(c.Handler(testToken))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/ui/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	for _, _, n, _ := c.alerts.stats(); n != 1; _, _, n, _ = c.alerts.stats() {
		time.Sleep(10 * time.Millisecond) // the stream subscribes
	}
	for i := range 100_000 {
		c.Observe(testAlert(i, "r", "Warning", "host"))
	}
	dropped := c.alerts.Dropped.Load()
	if dropped == 0 {
		t.Fatal("no alert dropped for a client that did not read 100,000 alerts")
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var last string
	alerts := 0
	lines := make(chan string)
	go func() {
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	for quiet := false; !quiet; {
		select {
		case l := <-lines:
			if strings.HasPrefix(l, "data: {\"dropped\":") {
				last = l
			} else if strings.HasPrefix(l, "data: ") {
				alerts++
			}
		case <-time.After(2 * time.Second):
			quiet = true
		}
	}
	if want := fmt.Sprintf(`data: {"dropped":%d}`, dropped); last != want {
		t.Errorf("last dropped event %q, want %q", last, want)
	}
	if uint64(alerts)+dropped != 100_000 {
		t.Errorf("%d alerts delivered + %d dropped != 100000", alerts, dropped)
	}
}

// A hidden process that one scan finds missing from ps and the next from
// ps and ls is one finding reported twice, with the latest views.
func TestFindingWithOtherViewsIsTheSameFinding(t *testing.T) {
	s := newFindingStore(10)
	for _, views := range []string{"seen by kernel; missing from libc(ps)", "seen by kernel; missing from libc(ps),libc(ls)"} {
		ev, p := findingEvent("hidden_process", 7, "/x.so")
		ev.Finding.Views = views
		s.add(ev, p)
	}
	got := s.list("")
	if len(got) != 1 || got[0].Reports != 2 || !slices.Equal(got[0].Missing, []string{"libc(ps)", "libc(ls)"}) {
		t.Errorf("findings %+v: want one, reported twice, missing from libc(ps) and libc(ls)", got)
	}
}

// Findings of kinds the console has no code for (posture, file drift,
// blocks, as their sources land) are kept like the scan's, concern the
// container of their process or the one their detail names, and keep
// every finding.* field for the page to render.
func TestFindingsOfAnyKindConcernTheirContainer(t *testing.T) {
	s := newFindingStore(10)
	posture := &event.Event{Time: 2, Type: event.MustType("posture"), Source: event.SourceTruesight, Pid: 42,
		Finding: &event.Finding{Kind: "posture", Summary: "root_writable the root filesystem is writable",
			Detail: map[string]string{"check": "root_writable", "severity": "high", "workload": "container nginx"}}}
	s.add(posture, &state.Process{Pid: 42, Comm: "nginx", ContainerID: "nginxid"})
	drift := &event.Event{Time: 3, Type: event.MustType("hidden_process"), Source: event.SourceTruesight,
		Finding: &event.Finding{Kind: "file_drift", Summary: "/etc/ld.so.preload changed",
			Detail: map[string]string{"container_id": "sidecarid", "path": "/etc/ld.so.preload"}}}
	s.add(drift, nil)
	// A write from nginx into the sidecar's root, blocked (enforce): about
	// both, the target named by its 12-hex id.
	block := &event.Event{Time: 5, Type: event.MustType("hidden_process"), Source: event.SourceTruesight, Pid: 43,
		Finding: &event.Finding{Kind: "enforce", Summary: "write to /etc/ld.so.preload blocked", Root: "/proc/6/root",
			Detail: map[string]string{"action": "blocked", "target_container": "5ac1deca0001", "path": "/etc/ld.so.preload"}}}
	s.add(block, &state.Process{Pid: 43, Comm: "sh", ContainerID: "00aa11bb22cc" + strings.Repeat("d", 52)})
	host := &event.Event{Time: 4, Type: event.MustType("posture"), Source: event.SourceTruesight,
		Finding: &event.Finding{Kind: "posture", Summary: "node check", Detail: map[string]string{"workload": "node"}}}
	s.add(host, nil)
	kinds := func(id string) []string {
		var out []string
		for _, f := range s.list(id) {
			out = append(out, f.Kind+":"+f.Summary)
		}
		return out
	}
	cases := map[string][]string{
		"nginxid":                                {"posture:root_writable the root filesystem is writable"},
		"sidecarid":                              {"file_drift:/etc/ld.so.preload changed"},
		"host":                                   {"posture:node check"},
		"5ac1deca0001" + strings.Repeat("e", 52): {"enforce:write to /etc/ld.so.preload blocked"},
		"00aa11bb22cc" + strings.Repeat("d", 52): {"enforce:write to /etc/ld.so.preload blocked"},
	}
	for id, want := range cases {
		if got := kinds(id); !slices.Equal(got, want) {
			t.Errorf("findings concerning %s: %q, want %q", id, got, want)
		}
	}
	f := s.list("nginxid")[0]
	b, _ := json.Marshal(f)
	for _, want := range []string{`"kind":"posture"`, `"type":"posture"`, `"check":"root_writable"`, `"severity":"high"`, `"comm":"nginx"`, `"container_id":"nginxid"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the finding's JSON %s lacks %s", b, want)
		}
	}
}

// missingViews reads whatever the scan wrote without panicking, and
// every view it returns is a non-empty name without the separators.
func FuzzMissingViews(f *testing.F) {
	for _, s := range []string{
		"seen by kernel,procfs,probe,root procfs; missing from libc(container:abc),libc(LD_PRELOAD=/x.so)",
		"seen by kernel,probe; missing from procfs", "", "missing from ", "missing from ;", "missing from a,,b ; c",
		"missing from missing from x", "seen by kernel; missing from libc(ps),libc(ls)",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, views string) {
		for _, v := range missingViews(views) {
			if v == "" || v != strings.TrimSpace(v) || strings.ContainsAny(v, ",;") {
				t.Errorf("missingViews(%q) returned the view %q", views, v)
			}
		}
	})
}
