package posture

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Profile is what posture knows of one AppArmor profile's text: its name
// and the paths its deny rules forbid writing.
type Profile struct {
	Name string
	File string
	Line int
	// denyWrite are the path globs of deny rules with the w permission,
	// as regular expressions.
	denyWrite []*regexp.Regexp
	globs     []string
}

// etcProbes are paths a profile must deny writing for "/etc/**" to be
// denied; the first is the preload file.
var etcProbes = []string{"/etc/ld.so.preload", "/etc/passwd", "/etc/ld.so.conf.d/x.conf", "/etc/ssl/certs/x.pem"}

// Missing returns what the profile fails to deny writing:
// "/etc/ld.so.preload", "/etc/**", both, or nothing.
func (p *Profile) Missing() []string {
	denied := func(path string) bool {
		for _, re := range p.denyWrite {
			if re.MatchString(path) {
				return true
			}
		}
		return false
	}
	var miss []string
	if !denied(etcProbes[0]) {
		miss = append(miss, etcProbes[0])
	}
	for _, e := range etcProbes[1:] {
		if !denied(e) {
			miss = append(miss, "/etc/**")
			break
		}
	}
	return miss
}

// LoadProfiles reads every regular file of dir as AppArmor profile text
// and returns the profiles by name. Profiles are also found by the name
// of their file, when the file holds one profile.
func LoadProfiles(dir string) (map[string]*Profile, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[string]*Profile{}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		file := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		ps, err := ParseProfiles(file, string(data))
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			if _, dup := out[p.Name]; !dup {
				out[p.Name] = p
			}
		}
		if len(ps) == 1 {
			if _, dup := out[e.Name()]; !dup {
				out[e.Name()] = ps[0]
			}
		}
	}
	return out, nil
}

var profileHead = regexp.MustCompile(`^(?:profile\s+("[^"]*"|\S+)|(/\S*|"/[^"]*"))(?:\s+[^{]*)?\{\s*$`)

// ParseProfiles reads the profiles of one file of AppArmor policy text.
// It knows profile blocks (profile NAME ... { } and path-attached
// profiles) and file rules; it does not follow includes or expand
// variables, so a deny rule written with them is not seen.
func ParseProfiles(file, text string) ([]*Profile, error) {
	var out []*Profile
	var cur *Profile
	depth := 0
	for i, raw := range strings.Split(text, "\n") {
		line := stripComment(raw)
		if line == "" {
			continue
		}
		if strings.HasSuffix(line, "{") {
			if m := profileHead.FindStringSubmatch(line); m != nil && depth == 0 {
				name := m[1]
				if name == "" {
					name = m[2]
				}
				cur = &Profile{Name: strings.Trim(name, `"`), File: file, Line: i + 1}
				out = append(out, cur)
			}
			depth++
			continue
		}
		if strings.HasPrefix(line, "}") {
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("%s:%d: unbalanced }", file, i+1)
			}
			if depth == 0 {
				cur = nil
			}
			continue
		}
		if cur == nil || depth != 1 {
			continue // outside a profile, or in a hat or child profile
		}
		glob, ok := denyWriteRule(line)
		if !ok {
			continue
		}
		re, err := globRegexp(glob)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", file, i+1, err)
		}
		cur.denyWrite = append(cur.denyWrite, re)
		cur.globs = append(cur.globs, glob)
	}
	if depth != 0 {
		return nil, fmt.Errorf("%s: a profile block is not closed", file)
	}
	return out, nil
}

func stripComment(s string) string {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "#include") {
		return ""
	}
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

var permRe = regexp.MustCompile(`^[rwaxlkmiupcUPCI]+$`)

// denyWriteRule returns the path glob of a "deny ... w" file rule:
// "deny /etc/** w," "audit deny owner /etc/ld.so.preload rwl,"
// "deny file w /etc/**,".
func denyWriteRule(line string) (string, bool) {
	line = strings.TrimSuffix(strings.TrimSpace(line), ",")
	f := ruleFields(line)
	deny := false
	i := 0
	for ; i < len(f); i++ {
		switch f[i] {
		case "audit", "owner", "file", "allow":
			continue
		case "deny":
			deny = true
			continue
		}
		break
	}
	if !deny || len(f)-i != 2 {
		return "", false
	}
	a, b := f[i], f[i+1]
	if strings.HasPrefix(a, "/") || strings.HasPrefix(a, `"/`) {
		a, b = b, a // path first
	} else if !strings.HasPrefix(b, "/") && !strings.HasPrefix(b, `"/`) {
		return "", false
	}
	// now a is the permissions, b the path
	if !permRe.MatchString(a) || !strings.Contains(a, "w") {
		return "", false
	}
	return strings.Trim(b, `"`), true
}

// ruleFields splits a rule at blanks, keeping a quoted path ("/etc/my
// dir/**") as one field, quotes included.
func ruleFields(line string) []string {
	var out []string
	var b strings.Builder
	quoted := false
	for _, r := range line {
		switch {
		case r == '"':
			quoted = !quoted
			b.WriteRune(r)
		case !quoted && (r == ' ' || r == '\t'):
			if b.Len() > 0 {
				out = append(out, b.String())
				b.Reset()
			}
		default:
			b.WriteRune(r)
		}
	}
	if b.Len() > 0 {
		out = append(out, b.String())
	}
	return out
}

// globRegexp turns an AppArmor path glob into an anchored regular
// expression: ** any string, * and ? within one path component, {a,b}
// alternatives, [...] a character class.
func globRegexp(g string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	brace := 0
	for i := 0; i < len(g); i++ {
		c := g[i]
		switch {
		case c == '*' && i+1 < len(g) && g[i+1] == '*':
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		case c == '{':
			brace++
			b.WriteString("(?:")
		case c == '}' && brace > 0:
			brace--
			b.WriteString(")")
		case c == ',' && brace > 0:
			b.WriteString("|")
		case c == '[':
			j := strings.IndexByte(g[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("glob %q: [ without ]", g)
			}
			class := g[i+1 : i+j]
			if strings.HasPrefix(class, "^") {
				class = "^" + regexp.QuoteMeta(class[1:])
			} else {
				class = regexp.QuoteMeta(class)
			}
			b.WriteString("[" + class + "]")
			i += j
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	if brace != 0 {
		return nil, fmt.Errorf("glob %q: { without }", g)
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}
