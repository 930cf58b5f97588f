package container

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// MountInfo is one line of /proc/<pid>/mountinfo, unescaped.
type MountInfo struct {
	Root       string   // the path inside the filesystem that is mounted
	MountPoint string   // where, as the process sees it
	Options    []string // per-mount options (rw, ro, nosuid...)
	FSType     string
	Source     string
	Super      []string // per-superblock options (lowerdir=..., upperdir=...)
}

// ParseMountInfo reads a mountinfo file. Lines that do not have its shape
// are skipped: the kernel writes every line, so a short one can only be a
// truncated read, and the rest is still worth having.
func ParseMountInfo(data []byte) []MountInfo {
	var out []MountInfo
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// id parent maj:min root mountpoint options [optional...] - fstype source superopts
		f := strings.Fields(sc.Text())
		sep := slices.Index(f, "-")
		if sep < 6 || sep+2 >= len(f) {
			continue
		}
		m := MountInfo{Root: unescapeMount(f[3]), MountPoint: unescapeMount(f[4]), Options: strings.Split(f[5], ","),
			FSType: f[sep+1], Source: unescapeMount(f[sep+2])}
		if sep+3 < len(f) {
			m.Super = splitSuperOptions(f[sep+3])
		}
		out = append(out, m)
	}
	return out
}

// splitSuperOptions splits superblock options at commas that overlayfs
// did not escape (it writes a comma inside a path as "\,").
func splitSuperOptions(s string) []string {
	var out []string
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == ',':
			b.WriteByte(',')
			i++
		case s[i] == ',':
			out = append(out, unescapeMount(b.String()))
			b.Reset()
		default:
			b.WriteByte(s[i])
		}
	}
	return append(out, unescapeMount(b.String()))
}

// unescapeMount decodes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Overlay is the overlay filesystem mounted as a container's root: its
// read-only image layers and its writable upper layer, as host paths.
type Overlay struct {
	// Lower are the lower directories, topmost first (overlayfs order).
	Lower []string
	Upper string
	Work  string
	// UserXattr is true when overlayfs keeps its whiteout and opaque
	// marks in user.overlay.* (rootless) rather than trusted.overlay.*.
	UserXattr bool
	// MountPoints are the other mounts inside the container (runtime
	// files such as /etc/hosts, volumes, /proc): their paths in the upper
	// layer are mount points, not the container's own files.
	MountPoints []string
}

// ReadOverlay reads the overlay root of the process pid from
// procRoot/<pid>/mountinfo. It fails when the process's root is not an
// overlay mount with an upper layer (a host process, a read-only rootfs
// made of lower layers only, another storage driver).
func ReadOverlay(procRoot string, pid int) (*Overlay, error) {
	path := filepath.Join(procRoot, strconv.Itoa(pid), "mountinfo")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return OverlayOf(ParseMountInfo(data), path)
}

// OverlayOf finds the overlay mounted at / among mounts (the last mount
// of / is the one the process sees); where names the source in errors.
func OverlayOf(mounts []MountInfo, where string) (*Overlay, error) {
	var root *MountInfo
	for i := range mounts {
		if mounts[i].MountPoint == "/" {
			root = &mounts[i]
		}
	}
	if root == nil {
		return nil, fmt.Errorf("%s: no mount at /", where)
	}
	if root.FSType != "overlay" {
		return nil, fmt.Errorf("%s: / is %s, not overlay", where, root.FSType)
	}
	o := &Overlay{}
	for _, opt := range root.Super {
		k, v, _ := strings.Cut(opt, "=")
		switch k {
		case "lowerdir":
			o.Lower = append(o.Lower, splitLowerDirs(v)...)
		case "lowerdir+":
			o.Lower = append(o.Lower, v)
		case "upperdir":
			o.Upper = v
		case "workdir":
			o.Work = v
		case "userxattr":
			o.UserXattr = true
		}
	}
	if o.Upper == "" || len(o.Lower) == 0 {
		return nil, fmt.Errorf("%s: overlay at / has no upper layer or no lower layer (options %s)", where, strings.Join(root.Super, ","))
	}
	for _, m := range mounts {
		if m.MountPoint != "/" && m.MountPoint != "" {
			o.MountPoints = append(o.MountPoints, m.MountPoint)
		}
	}
	return o, nil
}

// splitLowerDirs splits lowerdir's colon list; overlayfs escapes a colon
// inside a path as "\:".
func splitLowerDirs(s string) []string {
	var out []string
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s):
			b.WriteByte(s[i+1])
			i++
		case s[i] == ':':
			if s[i+1:] != "" && s[i+1] == ':' {
				// "::" starts the data-only lower layers.
				i++
			}
			out = append(out, b.String())
			b.Reset()
		default:
			b.WriteByte(s[i])
		}
	}
	return append(out, b.String())
}
