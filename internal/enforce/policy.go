package enforce

import (
	"encoding/hex"
	"path"
	"strings"

	"github.com/truesightsec/truesight/internal/config"
	"github.com/truesightsec/truesight/internal/container"
)

// Policy is the compiled truesight.enforce configuration. It is read-only
// once built and safe for concurrent use.
type Policy struct {
	// Enforce is true in mode enforce: deny, kill and restore; false in
	// detect: alert only.
	Enforce bool
	// DenyOnError answers deny when the intent of an open of a protected
	// path cannot be read.
	DenyOnError bool
	entries     []entry
	exact       map[string]int // path -> entry index, for entries without patterns
	writers     map[string][32]byte
	host        bool
	containers  bool
	selectors   []config.EnforceSelector
}

// entry is one protected path.
type entry struct {
	text string // as configured
	dir  string // "/etc/ld.so.conf.d" for /etc/ld.so.conf.d/**; "" otherwise
	glob bool   // text has * ? or [
	// For patterns, cheap rejections before path.Match: the literal text
	// before the first meta character, the literal start of the last
	// segment, and the number of segments.
	prefix, basePrefix string
	slashes            int
}

// literal is s up to its first pattern character.
func literal(s string) string {
	if i := strings.IndexAny(s, "*?[\\"); i >= 0 {
		return s[:i]
	}
	return s
}

// NewPolicy compiles a validated configuration.
func NewPolicy(c config.Enforce) *Policy {
	p := &Policy{
		Enforce:     c.Mode == config.EnforceEnforce,
		DenyOnError: c.OnError == "deny",
		exact:       map[string]int{},
		writers:     map[string][32]byte{},
		host:        c.Host,
		containers:  c.Containers,
		selectors:   c.Selectors,
	}
	for _, t := range c.ProtectedPaths {
		e := entry{text: t}
		if d, ok := strings.CutSuffix(t, "/**"); ok {
			e.dir = d
		}
		e.glob = strings.ContainsAny(strings.TrimSuffix(t, "/**"), "*?[")
		pat := t
		if e.dir != "" {
			pat = e.dir
		}
		e.prefix, e.basePrefix, e.slashes = literal(pat), literal(path.Base(pat)), strings.Count(pat, "/")
		if e.dir == "" && !e.glob {
			if _, dup := p.exact[t]; !dup {
				p.exact[t] = len(p.entries)
			}
		}
		p.entries = append(p.entries, e)
	}
	for _, w := range c.AllowedWriters {
		var sum [32]byte
		if b, err := hex.DecodeString(w.SHA256); err == nil && len(b) == 32 {
			copy(sum[:], b)
			p.writers[w.Path] = sum
		}
	}
	return p
}

// Match returns the protected path entry (as configured) that covers rel,
// a clean absolute path inside a root, and whether one does. It does not
// allocate.
func (p *Policy) Match(rel string) (string, bool) {
	if i, ok := p.exact[rel]; ok {
		return p.entries[i].text, true
	}
	for i := range p.entries {
		e := &p.entries[i]
		switch {
		case e.dir != "" && !e.glob:
			if len(rel) > len(e.dir) && rel[len(e.dir)] == '/' && rel[:len(e.dir)] == e.dir {
				return e.text, true
			}
		case !strings.HasPrefix(rel, e.prefix):
		case e.dir != "":
			// A pattern directory: match it against rel's leading segments.
			for j := 1; j < len(rel); j++ {
				if rel[j] == '/' {
					if ok, _ := path.Match(e.dir, rel[:j]); ok {
						return e.text, true
					}
				}
			}
		case strings.Count(rel, "/") != e.slashes || !strings.HasPrefix(rel[strings.LastIndexByte(rel, '/')+1:], e.basePrefix):
		case e.glob:
			if ok, _ := path.Match(e.text, rel); ok {
				return e.text, true
			}
		}
	}
	return "", false
}

// Dirs are the directories whose entries the policy may protect: the
// parent of every protected path (and the protected directories
// themselves), for the copies kept at protection start.
func (p *Policy) Dirs() []string {
	seen := map[string]bool{}
	var out []string
	add := func(d string) {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	for _, e := range p.entries {
		if e.dir != "" {
			add(path.Dir(e.dir))
			add(e.dir)
			continue
		}
		add(path.Dir(e.text))
	}
	return out
}

// Writer reports whether the executable at exe (as its root sees it) with
// content hash sum may write protected paths.
func (p *Policy) Writer(exe string, sum [32]byte) bool {
	want, ok := p.writers[exe]
	return ok && want == sum
}

// WriterPath reports whether some allowed writer has this path (its
// content must still be hashed to tell).
func (p *Policy) WriterPath(exe string) bool {
	_, ok := p.writers[exe]
	return ok
}

// Host reports whether the host's root filesystem is protected.
func (p *Policy) Host() bool { return p.host }

// Selects reports whether the container is protected.
func (p *Policy) Selects(c *container.Info) bool {
	if !p.containers || c == nil {
		return false
	}
	if len(p.selectors) == 0 {
		return true
	}
	for _, s := range p.selectors {
		if selects(s, c) {
			return true
		}
	}
	return false
}

func selects(s config.EnforceSelector, c *container.Info) bool {
	for _, f := range [...]struct{ pat, v string }{{s.Name, c.Name}, {s.Image, c.Image}, {s.Pod, c.PodName}, {s.Namespace, c.PodNamespace}} {
		if f.pat == "" {
			continue
		}
		if ok, _ := path.Match(f.pat, f.v); !ok {
			return false
		}
	}
	for k, pat := range s.Labels {
		v, ok := c.Labels[k]
		if !ok {
			v, ok = c.PodLabels[k]
		}
		if !ok {
			return false
		}
		if m, _ := path.Match(pat, v); !m {
			return false
		}
	}
	return true
}
