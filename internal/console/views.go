package console

import (
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/truesightsec/truesight/internal/container"
)

// processView is one process of the kernel's task list (the BPF task
// iterator), which no preload library can filter.
type processView struct {
	Pid     int64  `json:"pid"`
	PPid    int64  `json:"ppid"`
	VPid    int64  `json:"vpid"`
	Comm    string `json:"comm"`
	Cmdline string `json:"cmdline"`
	Exe     string `json:"exe,omitempty"`
	UID     uint32 `json:"uid"`
	Start   int64  `json:"start"` // ns since the epoch
	// Container is the short container id, "" on the host.
	Container string `json:"container,omitempty"`

	fullID string
	pidNS  uint32
}

// processNode is a process in a tree: the kernel's facts and the marks.
type processNode struct {
	processView
	ContainerName string `json:"container_name,omitempty"`
	// Hidden are the findings that some view misses this process
	// (hidden_process, view_mismatch): which views, the library, its
	// sha256 and overridden symbols.
	Hidden []*findingEntry `json:"hidden,omitempty"`
	// Missing are the views that miss it, all findings together.
	Missing []string `json:"missing,omitempty"`
	// Alerts counts the alerts in the ring about this pid.
	Alerts int `json:"alerts,omitempty"`
	// NotInKernel is set for a process a finding names that the kernel's
	// task list does not have (a kernel-level anomaly, or it exited).
	NotInKernel bool `json:"not_in_kernel,omitempty"`
}

type processSnapshot struct {
	at    time.Time
	procs []processView
	err   error
}

// snapshot reads the kernel's task list, at most once a second.
func (c *Console) snapshot() ([]processView, error) {
	c.procMu.Lock()
	defer c.procMu.Unlock()
	if c.procs != nil && time.Since(c.procs.at) < time.Second {
		return c.procs.procs, c.procs.err
	}
	snap := &processSnapshot{at: time.Now()}
	tasks, err := c.env.Sensor.Snapshot()
	snap.err = err
	for i := range tasks {
		t := &tasks[i]
		if t.Tid != t.Tgid || t.KernelThread {
			continue
		}
		p := processView{Pid: int64(t.Tgid), PPid: int64(t.PPid), VPid: int64(t.VPid), Comm: t.Comm, Cmdline: t.Cmdline(),
			Exe: t.Exe.Path, UID: t.UID, Start: t.StartTime, fullID: container.IDFromCgroup(t.Cgroup), pidNS: t.NS.Pid}
		if p.Cmdline == "" {
			p.Cmdline = p.Comm
		}
		p.Container = container.ShortID(p.fullID)
		snap.procs = append(snap.procs, p)
	}
	c.procs = snap
	return snap.procs, snap.err
}

// containerView is one container with its process count and findings.
type containerView struct {
	ID           string         `json:"id"` // 12 hex, or "host"
	FullID       string         `json:"full_id,omitempty"`
	Name         string         `json:"name"`
	Image        string         `json:"image,omitempty"`
	Pod          string         `json:"pod,omitempty"`
	Namespace    string         `json:"namespace,omitempty"`
	Runtime      string         `json:"runtime,omitempty"` // docker, podman, containerd, cri-o
	Socket       string         `json:"socket,omitempty"`  // the API and socket that described it
	PodSharedPID bool           `json:"pod_shared_pid,omitempty"`
	Privileged   bool           `json:"privileged,omitempty"`
	Processes    int            `json:"processes"`
	Findings     map[string]int `json:"findings"` // by kind
	// Known is false for a container the kernel runs processes of but no
	// runtime described (yet).
	Known bool `json:"known"`
}

// serveContainers: GET /ui/api/containers lists the host first, then
// every container by name.
func (c *Console) serveContainers(w http.ResponseWriter, _ *http.Request) {
	procs, err := c.snapshot()
	if err != nil && procs == nil {
		httpError(w, http.StatusInternalServerError, "kernel task list: "+err.Error())
		return
	}
	count := map[string]int{}
	for _, p := range procs {
		count[p.fullID]++
	}
	out := []*containerView{{ID: "host", Name: "host", Processes: count[""], Findings: map[string]int{}, Known: true}}
	byID := map[string]*containerView{}
	for _, i := range c.env.Containers.Containers() {
		v := &containerView{ID: i.ID, FullID: i.FullID, Name: i.Name, Image: i.Image, Pod: i.PodName, Namespace: i.PodNamespace,
			Runtime: i.Type, Socket: i.Runtime, PodSharedPID: i.PodSharedPID, Privileged: i.Privileged,
			Processes: count[i.FullID], Findings: map[string]int{}, Known: true}
		byID[i.FullID] = v
		out = append(out, v)
	}
	var unknown []string
	for id := range count {
		if id != "" && byID[id] == nil {
			unknown = append(unknown, id)
		}
	}
	sort.Strings(unknown)
	for _, id := range unknown {
		v := &containerView{ID: container.ShortID(id), FullID: id, Processes: count[id], Findings: map[string]int{}}
		byID[id] = v
		out = append(out, v)
	}
	// Findings name containers by full or 12-hex id.
	byShort := map[string]*containerView{}
	for id, v := range byID {
		byShort[container.ShortID(id)] = v
	}
	for _, f := range c.findings.list("") {
		if f.onHost() {
			out[0].Findings[f.Kind]++
		}
		for _, id := range f.Containers {
			v := byID[id]
			if v == nil {
				v = byShort[container.ShortID(id)]
			}
			if v != nil {
				v.Findings[f.Kind]++
			}
		}
	}
	writeJSON(w, out)
}

// serveProcesses: GET /ui/api/processes?container=ID|host is the process
// tree of a container's PID namespace (all processes of a pod that shares
// it) or of the whole host, as the kernel lists it, each process marked
// with the views that miss it and its alert count.
func (c *Console) serveProcesses(w http.ResponseWriter, r *http.Request) {
	want := r.URL.Query().Get("container")
	if want == "" {
		want = "host"
	}
	procs, err := c.snapshot()
	if err != nil && procs == nil {
		httpError(w, http.StatusInternalServerError, "kernel task list: "+err.Error())
		return
	}
	fullID := ""
	if want != "host" {
		for _, p := range procs {
			if p.fullID != "" && (p.fullID == want || p.Container == want) {
				fullID = p.fullID
				break
			}
		}
		if fullID == "" {
			for _, i := range c.env.Containers.Containers() {
				if i.FullID == want || i.ID == want || i.Name == want {
					fullID = i.FullID
				}
			}
		}
		if fullID == "" {
			httpError(w, http.StatusNotFound, "no container "+want+" (see /ui/api/containers)")
			return
		}
	}
	// A container's tree is its PID namespaces: in a pod that shares one,
	// the other containers' processes are in its view too.
	nss := map[uint32]bool{}
	for _, p := range procs {
		if fullID != "" && p.fullID == fullID {
			nss[p.pidNS] = true
		}
	}
	names := map[string]string{}
	for _, i := range c.env.Containers.Containers() {
		names[i.FullID] = i.Name
	}
	alerts := c.alerts.pidAlerts()
	byPid := map[int64]*processNode{}
	var nodes []*processNode
	for _, p := range procs {
		if fullID != "" && !nss[p.pidNS] {
			continue
		}
		n := &processNode{processView: p, ContainerName: names[p.fullID], Alerts: alerts[p.Pid]}
		nodes = append(nodes, n)
		byPid[p.Pid] = n
	}
	for _, f := range c.findings.list("") {
		if (f.Kind != "hidden_process" && f.Kind != "view_mismatch") || f.Pid == 0 {
			continue
		}
		n := byPid[f.Pid]
		if n == nil {
			// A process the kernel does not list (now): shown where the
			// finding places it.
			onHost := fullID == "" && f.ContainerID == ""
			if !onHost && (fullID == "" || !concerns(f, fullID)) {
				continue
			}
			n = &processNode{processView: processView{Pid: f.Pid, VPid: f.VPid, Comm: f.Comm, Cmdline: f.Cmdline,
				Container: container.ShortID(f.ContainerID), fullID: f.ContainerID}, ContainerName: names[f.ContainerID], NotInKernel: true}
			nodes = append(nodes, n)
			byPid[f.Pid] = n
		} else if f.Comm != "" && f.Comm != n.Comm {
			continue // the pid was reused by another process
		}
		n.Hidden = append(n.Hidden, f)
		for _, m := range f.Missing {
			if !contains(n.Missing, m) {
				n.Missing = append(n.Missing, m)
			}
		}
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Pid < nodes[j].Pid })
	out := struct {
		Container string         `json:"container"`
		Name      string         `json:"name"`
		Processes []*processNode `json:"processes"`
	}{Container: container.ShortID(fullID), Name: names[fullID], Processes: nodes}
	if fullID == "" {
		out.Container, out.Name = "host", "host"
	}
	if out.Processes == nil {
		out.Processes = []*processNode{}
	}
	writeJSON(w, out)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// rateMeter turns a running total into a per-second rate.
type rateMeter struct {
	mu        sync.Mutex
	lastTotal float64
	lastAt    time.Time
	rate      float64
}

func (m *rateMeter) sample(total float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	if !m.lastAt.IsZero() {
		if d := now.Sub(m.lastAt).Seconds(); d > 0 {
			m.rate = (total - m.lastTotal) / d
		}
	}
	m.lastTotal, m.lastAt = total, now
}

func (m *rateMeter) perSecond() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rate
}

// metricSums reads the agent's Prometheus metrics: each family's values
// summed, and by one label for those that have it.
func (c *Console) metricSums() (sums map[string]float64, byLabel map[string]map[string]float64) {
	sums, byLabel = map[string]float64{}, map[string]map[string]float64{}
	if c.env == nil || c.env.Metrics == nil {
		return sums, byLabel
	}
	fams, _ := c.env.Metrics.Registry().Gather()
	for _, f := range fams {
		if !strings.HasPrefix(f.GetName(), "truesight_") {
			continue
		}
		for _, m := range f.GetMetric() {
			v := metricValue(m)
			sums[f.GetName()] += v
			for _, l := range m.GetLabel() {
				if l.GetName() == "output" || l.GetName() == "result" {
					if byLabel[f.GetName()] == nil {
						byLabel[f.GetName()] = map[string]float64{}
					}
					byLabel[f.GetName()][l.GetValue()] += v
				}
			}
		}
	}
	return sums, byLabel
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return 0
}

func (c *Console) eventsTotal() float64 {
	s, _ := c.metricSums()
	return s["truesight_events_total"]
}

// outputHealth is one output's figures.
type outputHealth struct {
	Name     string `json:"name"`
	Sent     uint64 `json:"sent"`
	Failed   uint64 `json:"failed"`
	Dropped  uint64 `json:"dropped"`
	Queued   uint64 `json:"queued"`
	Capacity uint64 `json:"capacity"`
}

// serveHealth: GET /ui/api/health.
func (c *Console) serveHealth(w http.ResponseWriter, _ *http.Request) {
	sums, by := c.metricSums()
	type kernel struct {
		Events    uint64 `json:"events"`
		Drops     uint64 `json:"drops"`
		Truncated uint64 `json:"truncated"`
	}
	type scanStatus struct {
		Time       time.Time `json:"time"`
		DurationMS float64   `json:"duration_ms"`
		Findings   int       `json:"findings"`
		New        int       `json:"new"`
		Error      string    `json:"error,omitempty"`
	}
	type consoleHealth struct {
		AlertsReceived uint64 `json:"alerts_received"`
		AlertsKept     int    `json:"alerts_kept"`
		AlertRing      int    `json:"alert_ring"`
		Clients        int    `json:"clients"`
		ClientDrops    uint64 `json:"client_drops"`
		Findings       int    `json:"findings"`
	}
	h := struct {
		Hostname        string         `json:"hostname"`
		UptimeSeconds   float64        `json:"uptime_seconds"`
		EventsTotal     uint64         `json:"events_total"`
		EventsPerSecond float64        `json:"events_per_second"`
		Kernel          kernel         `json:"kernel"`
		AlertsTotal     uint64         `json:"alerts_total"`
		Suppressed      uint64         `json:"alerts_suppressed"`
		Outputs         []outputHealth `json:"outputs"`
		RulesLoaded     int            `json:"rules_loaded"`
		ReloadsOK       uint64         `json:"reloads_ok"`
		ReloadErrors    uint64         `json:"reload_errors"`
		ProcessTable    uint64         `json:"process_table"`
		LastScan        *scanStatus    `json:"last_scan"`
		Console         consoleHealth  `json:"console"`
	}{
		Hostname:        c.env.Hostname,
		UptimeSeconds:   time.Since(c.start).Seconds(),
		EventsTotal:     uint64(sums["truesight_events_total"]),
		EventsPerSecond: c.rate.perSecond(),
		AlertsTotal:     uint64(sums["truesight_alerts_total"]),
		Suppressed:      uint64(sums["truesight_alerts_suppressed_total"]),
		RulesLoaded:     len(c.env.Engine().Rules()),
		ReloadsOK:       uint64(by["truesight_rules_reloads_total"]["ok"]),
		ReloadErrors:    uint64(by["truesight_rules_reloads_total"]["failed"]),
		ProcessTable:    uint64(sums["truesight_process_table_size"]),
		Outputs:         []outputHealth{},
	}
	if st, err := c.env.Sensor.Stats(); err == nil {
		h.Kernel = kernel{Events: st.Events, Drops: st.Drops, Truncated: st.Truncated}
	}
	for name := range by["truesight_output_queue_capacity"] {
		h.Outputs = append(h.Outputs, outputHealth{Name: name,
			Sent: uint64(by["truesight_output_alerts_sent_total"][name]), Failed: uint64(by["truesight_output_alerts_failed_total"][name]),
			Dropped: uint64(by["truesight_output_alerts_dropped_total"][name]), Queued: uint64(by["truesight_output_queue_depth"][name]),
			Capacity: uint64(by["truesight_output_queue_capacity"][name])})
	}
	sort.Slice(h.Outputs, func(i, j int) bool { return h.Outputs[i].Name < h.Outputs[j].Name })
	if st, ok := c.env.LastScan(); ok {
		h.LastScan = &scanStatus{Time: st.Time, DurationMS: float64(st.Duration) / 1e6, Findings: st.Findings, New: st.New, Error: st.Err}
	}
	kept, size, clients, _ := c.alerts.stats()
	h.Console = consoleHealth{AlertsReceived: c.alerts.Received.Load(), AlertsKept: kept, AlertRing: size, Clients: clients,
		ClientDrops: c.alerts.Dropped.Load(), Findings: len(c.findings.list(""))}
	writeJSON(w, h)
}
