package scan

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/state"
)

// Finding kinds, the values of finding.kind.
const (
	// KindHiddenProcess: a live process is missing from the listing a
	// root's libc tools (ps, ls) get, while the kernel lists it.
	KindHiddenProcess = "hidden_process"
	// KindViewMismatch: the kernel's own views disagree (task iterator,
	// /proc directory, direct probes): a kernel-level anomaly, reported
	// apart from libc hiding. Its event type is hidden_process too.
	KindViewMismatch = "view_mismatch"
	// KindPreloadConfig: /etc/ld.so.preload lists libraries, or the
	// loader's search configuration lets a library shadow the system's.
	KindPreloadConfig = "preload_config"
	// KindPreloadEnv: a process runs with LD_PRELOAD or LD_AUDIT.
	KindPreloadEnv = "preload_env"
	// KindInjectedLibrary: processes map a library that overrides
	// directory or file functions of libc and is not the root's runtime.
	KindInjectedLibrary = "injected_library"
)

// eventTypes maps each kind to its event type.
var eventTypes = map[string]event.Type{
	KindHiddenProcess:   event.MustType("hidden_process"),
	KindViewMismatch:    event.MustType("hidden_process"),
	KindPreloadConfig:   event.MustType("preload_config"),
	KindPreloadEnv:      event.MustType("preload_env"),
	KindInjectedLibrary: event.MustType("injected_library"),
}

// Finding is one confirmed report of the scan.
type Finding struct {
	event.Finding
	// Key identifies the finding across scans: the same process, file or
	// library in the same root gives the same key.
	Key string
	// Process is the process the finding is about (the hidden process, the
	// process with the environment, a process mapping the library, a
	// process of the root with the preload file), for proc.* and
	// container.* fields. Never nil.
	Process *state.Process
	// Time is when the scan made the finding, ns since the epoch.
	Time int64
}

// Type returns the finding's event type.
func (f *Finding) Type() event.Type { return eventTypes[f.Kind] }

// Event returns the finding as an event of source truesight, ready for
// the rule engine together with f.Process.
func (f *Finding) Event() *event.Event {
	fc := f.Finding
	fc.Detail = maps.Clone(f.Detail)
	return &event.Event{
		Time:    f.Time,
		Type:    f.Type(),
		Source:  event.SourceTruesight,
		Tid:     f.Process.Pid,
		Pid:     f.Process.Pid,
		Finding: &fc,
	}
}

// Lines returns the finding's facts as "label: value" lines for a
// readable report, in a fixed order.
func (f *Finding) Lines() []string {
	type line struct{ label, value string }
	var lines []line
	add := func(label, v string) {
		if v != "" {
			lines = append(lines, line{label, v})
		}
	}
	p := f.Process
	proc := fmt.Sprintf("%d %s", p.Pid, p.Comm)
	if p.VPid != 0 && p.VPid != p.Pid {
		proc += fmt.Sprintf(" (pid %d in its namespace)", p.VPid)
	}
	if p.Cmdline != "" && p.Cmdline != p.Comm {
		proc += " cmdline=" + quoteIfSpace(p.Cmdline)
	}
	add("process", proc)
	add("container", containerText(p))
	add("root", f.Root)
	add("views", f.Views)
	add("library", f.Library)
	add("sha256", f.SHA256)
	add("symbols", f.Symbols)
	keys := slices.Sorted(maps.Keys(f.Detail))
	for _, k := range keys {
		add(k, f.Detail[k])
	}
	width := 0
	for _, l := range lines {
		width = max(width, len(l.label)+1)
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = fmt.Sprintf("%-*s %s", width, l.label+":", l.value)
	}
	return out
}

func containerText(p *state.Process) string {
	if p.ContainerID == "" {
		return "host"
	}
	s := p.ShortContainerID()
	if i := p.Container.Load(); i != nil {
		if i.Name != "" {
			s += " name=" + i.Name
		}
		if i.Image != "" {
			s += " image=" + i.Image
		}
	}
	return s
}

func quoteIfSpace(s string) string {
	if strings.ContainsAny(s, " \t") {
		return fmt.Sprintf("%q", s)
	}
	return s
}
