package console

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/state"
)

// findingEntry is one finding as the console shows it: the finding.*
// fields and the process it is about. Every kind has the same shape, so
// the page renders kinds it does not know (file drift, blocks, posture).
type findingEntry struct {
	Seq     uint64            `json:"seq"`
	Time    int64             `json:"time"` // ns since the epoch, the last report
	Type    string            `json:"type"` // the event type (evt.type)
	Kind    string            `json:"kind"`
	Summary string            `json:"summary,omitempty"`
	Views   string            `json:"views,omitempty"`
	Library string            `json:"library,omitempty"`
	SHA256  string            `json:"sha256,omitempty"`
	Symbols string            `json:"symbols,omitempty"`
	Root    string            `json:"root,omitempty"`
	Detail  map[string]string `json:"detail,omitempty"`
	// Missing are the views the process is missing from, from Views
	// ("seen by ...; missing from ...").
	Missing []string `json:"missing,omitempty"`
	// Reports counts how often the finding was reported.
	Reports int `json:"reports"`

	Pid     int64  `json:"pid,omitempty"`
	VPid    int64  `json:"vpid,omitempty"`
	Comm    string `json:"comm,omitempty"`
	Cmdline string `json:"cmdline,omitempty"`
	// ContainerID is the full id of the container the process runs in,
	// "" on the host; Containers are every container the finding concerns
	// (also the one a process is hidden from), full ids.
	ContainerID string   `json:"container_id,omitempty"`
	Containers  []string `json:"-"`

	key string
}

// missingViews reads the views a process is missing from out of the
// scan's "seen by A,B; missing from C,D".
func missingViews(views string) []string {
	_, rest, ok := strings.Cut(views, "missing from ")
	if !ok {
		return nil
	}
	if i := strings.IndexByte(rest, ';'); i >= 0 {
		rest = rest[:i]
	}
	var out []string
	for _, v := range strings.Split(rest, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// findingStore keeps the most recent findings, the same finding reported
// again updating its entry, at most max of them.
type findingStore struct {
	mu    sync.Mutex
	max   int
	next  uint64
	byKey map[string]*findingEntry
	order []keySeq // reports, oldest first; a key reported again is stale at its older place
}

func newFindingStore(max int) *findingStore {
	return &findingStore{max: max, byKey: map[string]*findingEntry{}}
}

// add keeps a finding reported with ev (of source truesight) about p.
func (s *findingStore) add(ev *event.Event, p *state.Process) {
	f := ev.Finding
	if f == nil {
		return
	}
	e := &findingEntry{
		Time: ev.Time, Type: ev.Type.String(), Kind: f.Kind, Summary: f.Summary, Views: f.Views, Library: f.Library,
		SHA256: f.SHA256, Symbols: f.Symbols, Root: f.Root, Detail: maps.Clone(f.Detail), Missing: missingViews(f.Views),
	}
	if p != nil {
		e.Pid, e.VPid, e.Comm, e.Cmdline, e.ContainerID = p.Pid, p.VPid, p.Comm, p.Cmdline, p.ContainerID
	} else if ev.Pid != 0 {
		e.Pid = ev.Pid
	}
	if e.ContainerID != "" {
		e.Containers = append(e.Containers, e.ContainerID)
	}
	// The detail keys that name another container the finding concerns:
	// the one a process is hidden from, the one a library is loaded in,
	// the one whose files a blocked write aimed at (a 12-hex id).
	for _, k := range []string{"hidden_from_container_id", "container_id", "target_container"} {
		if id := e.Detail[k]; id != "" && id != container.HostID && id != e.ContainerID && !slices.Contains(e.Containers, id) &&
			(e.ContainerID == "" || !strings.HasPrefix(e.ContainerID, id)) {
			e.Containers = append(e.Containers, id)
		}
	}
	if id, ok := strings.CutPrefix(f.Root, "container:"); ok && len(e.Containers) == 0 {
		e.Containers = append(e.Containers, id)
	}
	// What identifies a finding: its kind, where, about what process and
	// what library, and the detail's facts; not which views missed the
	// process, which changes from scan to scan as the libc views' own
	// processes come and go (the entry keeps the latest).
	var b strings.Builder
	for _, v := range []string{e.Kind, e.Root, strconv.FormatInt(e.Pid, 10), e.Library, e.SHA256} {
		b.WriteString(v)
		b.WriteByte(0)
	}
	for _, k := range sortedKeys(e.Detail) {
		b.WriteString(k + "=" + e.Detail[k])
		b.WriteByte(0)
	}
	e.key = b.String()

	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.byKey[e.key]; ok {
		e.Reports = old.Reports
	}
	s.next++
	e.Seq = s.next
	e.Reports++
	s.byKey[e.key] = e
	s.order = append(s.order, keySeq{e.key, e.Seq})
	// Every kept finding has exactly one current place in order.
	if len(s.order) > 2*s.max {
		s.order = slices.DeleteFunc(s.order, func(o keySeq) bool { return !s.current(o) })
	}
	for len(s.byKey) > s.max {
		o := s.order[0]
		s.order = s.order[1:]
		if s.current(o) {
			delete(s.byKey, o.key)
		}
	}
}

// current reports whether o is its finding's latest report.
func (s *findingStore) current(o keySeq) bool {
	e, ok := s.byKey[o.key]
	return ok && e.Seq == o.seq
}

type keySeq struct {
	key string
	seq uint64
}

// list returns the findings, oldest first, that concern the container
// (a full id, or "host" for findings on the host; "" for all).
func (s *findingStore) list(containerID string) []*findingEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*findingEntry
	for _, e := range s.byKey {
		if containerID == "" || concerns(e, containerID) {
			out = append(out, e)
		}
	}
	sortBySeq(out)
	return out
}

// onHost reports whether a finding concerns no container: its process
// runs on the host and neither its root nor its detail names one.
func (e *findingEntry) onHost() bool { return len(e.Containers) == 0 }

// concerns reports whether a finding is about a container ("host": about
// the host).
func concerns(e *findingEntry, id string) bool {
	if id == "host" {
		return e.onHost()
	}
	for _, c := range e.Containers {
		if c == id || container.ShortID(c) == id || strings.HasPrefix(id, c) {
			return true
		}
	}
	return false
}
