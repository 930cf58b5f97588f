package config

import (
	"encoding/hex"
	"fmt"
	"path"
	"strings"
	"time"
)

// Enforce is truesight.enforce: which files `truesight run` protects from
// writes, where, and whether it denies the writes (enforce) or only
// alerts on them (detect). docs/enforcement.md describes the model.
type Enforce struct {
	// Enabled runs protection inside `truesight run` (--enforce sets it).
	Enabled bool `yaml:"enabled"`
	// Mode is detect (alert only, the default) or enforce (deny opens for
	// writing, kill and restore after a rename or link).
	Mode string `yaml:"mode"`
	// ProtectedPaths are absolute paths as a root sees them; a path ending
	// in /** protects everything below a directory, and * and ? match
	// within one path segment (path.Match).
	ProtectedPaths []string `yaml:"protected_paths"`
	// Host protects the host's root filesystem too (every open on it then
	// waits for the agent's answer).
	Host bool `yaml:"host"`
	// Containers protects every container, unless Selectors narrow it.
	Containers bool `yaml:"containers"`
	// Selectors, when set, protect only the containers that match one of
	// them (each field given must match).
	Selectors []EnforceSelector `yaml:"selectors"`
	// AllowedWriters may write protected paths: an executable identified
	// by its path and sha256 together, never by name alone.
	AllowedWriters []AllowedWriter `yaml:"allowed_writers"`
	// AnswerDeadline bounds the wait of one open for the agent's answer;
	// past it the open is allowed, counted and alerted.
	AnswerDeadline Duration `yaml:"answer_deadline"`
	// OnError is the answer when the agent cannot tell whether an open of a
	// protected path writes (allow, the default, or deny).
	OnError string `yaml:"on_error"`
	// StateFile records that protection is active, so that the next start
	// can tell it lapsed (the agent died without stopping).
	StateFile string `yaml:"state_file"`
}

// EnforceSelector picks containers by their metadata. Values are
// path.Match patterns (nginx-*); Labels must all be present with matching
// values, on the container or its pod.
type EnforceSelector struct {
	Name      string            `yaml:"name"`
	Image     string            `yaml:"image"`
	Pod       string            `yaml:"pod"`
	Namespace string            `yaml:"namespace"`
	Labels    map[string]string `yaml:"labels"`
}

// AllowedWriter is an executable that may write protected paths: its path
// as the writer's root sees it, and the sha256 of its content.
type AllowedWriter struct {
	Path   string `yaml:"path"`
	SHA256 string `yaml:"sha256"`
}

// Enforce modes.
const (
	EnforceDetect  = "detect"
	EnforceEnforce = "enforce"
)

// validateEnforce checks truesight.enforce.
func validateEnforce(c *Config, bad func(key, format string, args ...any)) {
	e := c.Truesight.Enforce
	if e.Mode != EnforceDetect && e.Mode != EnforceEnforce {
		bad("truesight.enforce.mode", "%q is not a mode: want detect (alert only) or enforce (deny writes)", e.Mode)
	}
	if e.OnError != "allow" && e.OnError != "deny" {
		bad("truesight.enforce.on_error", "%q is not an answer: want allow or deny", e.OnError)
	}
	if d := time.Duration(e.AnswerDeadline); d < time.Millisecond || d > 10*time.Second {
		bad("truesight.enforce.answer_deadline", "must be from 1ms to 10s (every open of a protected filesystem may wait this long), got %s", d)
	}
	if e.StateFile != "" && !strings.HasPrefix(e.StateFile, "/") {
		bad("truesight.enforce.state_file", "%q is not an absolute path", e.StateFile)
	}
	if e.Enabled && !e.Host && !e.Containers {
		bad("truesight.enforce.enabled", "protects nothing: set truesight.enforce.containers or truesight.enforce.host to true")
	}
	if e.Enabled && len(e.ProtectedPaths) == 0 {
		bad("truesight.enforce.protected_paths", "is empty: protection is enabled for no path")
	}
	for i, p := range e.ProtectedPaths {
		if msg := checkProtectedPath(p); msg != "" {
			bad(fmt.Sprintf("truesight.enforce.protected_paths[%d]", i), "%s", msg)
		}
	}
	for i, s := range e.Selectors {
		key := fmt.Sprintf("truesight.enforce.selectors[%d]", i)
		if s.Name == "" && s.Image == "" && s.Pod == "" && s.Namespace == "" && len(s.Labels) == 0 {
			bad(key, "selects nothing: give name, image, pod, namespace or labels")
		}
		for _, f := range [...]struct{ name, v string }{{"name", s.Name}, {"image", s.Image}, {"pod", s.Pod}, {"namespace", s.Namespace}} {
			if _, err := path.Match(f.v, ""); err != nil {
				bad(key+"."+f.name, "%q is not a pattern: %v", f.v, err)
			}
		}
		for k, v := range s.Labels {
			if _, err := path.Match(v, ""); err != nil {
				bad(key+".labels."+k, "%q is not a pattern: %v", v, err)
			}
		}
	}
	for i, w := range e.AllowedWriters {
		key := fmt.Sprintf("truesight.enforce.allowed_writers[%d]", i)
		if !strings.HasPrefix(w.Path, "/") || path.Clean(w.Path) != w.Path {
			bad(key+".path", "%q is not a clean absolute path: a writer is its executable's path plus its sha256, never a name alone", w.Path)
		}
		if b, err := hex.DecodeString(w.SHA256); err != nil || len(b) != 32 {
			bad(key+".sha256", "%q is not a sha256 (64 hex digits; sha256sum prints it)", w.SHA256)
		}
	}
}

// checkProtectedPath says what is wrong with a protected path, or "".
func checkProtectedPath(p string) string {
	base := strings.TrimSuffix(p, "/**")
	switch {
	case !strings.HasPrefix(p, "/"):
		return fmt.Sprintf("%q is not an absolute path (as the container sees it, e.g. /etc/ld.so.preload)", p)
	case base == "" || base == "/":
		return fmt.Sprintf("%q would protect a whole filesystem", p)
	case path.Clean(base) != base:
		return fmt.Sprintf("%q is not a clean path (no //, /./, /../ or trailing /)", p)
	case strings.Contains(base, "**"):
		return fmt.Sprintf("%q: ** is allowed only as the last segment (/dir/**)", p)
	}
	if _, err := path.Match(base, ""); err != nil {
		return fmt.Sprintf("%q is not a pattern: %v", p, err)
	}
	return ""
}
