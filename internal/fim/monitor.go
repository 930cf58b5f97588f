package fim

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/truesightsec/truesight/internal/container"
)

// Change is one difference between a tree and its baseline.
type Change struct {
	Kind Kind   `json:"kind"`
	Path string `json:"path"`
	// Layer is the baseline the old entry comes from (a container's
	// lower layer, or the host path's baseline).
	Layer string `json:"layer,omitempty"`
	Old   *Entry `json:"old,omitempty"`
	New   *Entry `json:"new,omitempty"`
	// Attrs are the attributes that differ.
	Attrs  []string `json:"attrs,omitempty"`
	Detail string   `json:"detail,omitempty"`
}

// Container is a running container as the FIM sees it.
type Container struct {
	ID          string             `json:"id"` // full id
	Name        string             `json:"name,omitempty"`
	Image       string             `json:"image,omitempty"`
	ImageDigest string             `json:"image_digest,omitempty"`
	Pid         int                `json:"pid"`
	Overlay     *container.Overlay `json:"-"`
}

// Monitor baselines trees and checks them against a Store.
type Monitor struct {
	Store *Store
	Walk  WalkOptions
	// HostExclude are absolute host paths not walked in host trees
	// (truesight.fim.exclude); layers and upper layers are walked whole.
	HostExclude []string
}

// hostWalk is m.Walk for the host tree at root: its excludes made
// relative to root.
func (m *Monitor) hostWalk(root string) WalkOptions {
	opts := m.Walk
	opts.Exclude = slices.Clone(opts.Exclude)
	for _, x := range m.HostExclude {
		if rel, ok := strings.CutPrefix(filepath.Clean(x), root+"/"); ok {
			opts.Exclude = append(opts.Exclude, "/"+rel)
		}
	}
	return opts
}

// LayerID is the identity of a lower layer: its directory with symlinks
// resolved (podman's lowerdir names a short link) and the directory's
// device and inode, so a layer removed and made anew at the same path is
// another layer.
func LayerID(lowerdir string) (id, real string, dev, ino uint64, err error) {
	real, err = filepath.EvalSymlinks(lowerdir)
	if err != nil {
		return "", "", 0, 0, fmt.Errorf("layer %s: %w", lowerdir, err)
	}
	var st unix.Stat_t
	if err := unix.Stat(real, &st); err != nil {
		return "", "", 0, 0, fmt.Errorf("layer %s: %w", real, err)
	}
	return fmt.Sprintf("layer:%s@%d:%d", real, st.Dev, st.Ino), real, st.Dev, st.Ino, nil
}

// HostID is the baseline id of a host path.
func HostID(root string) string { return "host:" + filepath.Clean(root) }

// collect walks root into a slice.
func (m *Monitor) collect(ctx context.Context, root string, opts WalkOptions) ([]*Entry, error) {
	var all []*Entry
	err := Walk(ctx, root, opts, func(e *Entry) error {
		all = append(all, e)
		return nil
	})
	slices.SortFunc(all, func(a, b *Entry) int { return strings.Compare(a.Path, b.Path) })
	return all, err
}

// BaselineHost walks root and stores it as the baseline of that host
// path, replacing an older one.
func (m *Monitor) BaselineHost(ctx context.Context, root string) (*Baseline, error) {
	root = filepath.Clean(root)
	entries, err := m.collect(ctx, root, m.hostWalk(root))
	if err != nil {
		return nil, fmt.Errorf("baseline %s: %w", root, err)
	}
	bl := &Baseline{ID: HostID(root), Kind: "host", Path: root, Created: time.Now().UTC()}
	if err := m.Store.PutBaseline(bl, entries); err != nil {
		return nil, fmt.Errorf("store baseline %s: %w", root, err)
	}
	return bl, nil
}

// BaselineLayer returns the baseline of a lower layer, walking and storing
// it when it has none yet (created true): a layer is immutable, so it is
// hashed once, whatever number of containers use it.
func (m *Monitor) BaselineLayer(ctx context.Context, lowerdir, image string) (bl *Baseline, created bool, err error) {
	id, real, dev, ino, err := LayerID(lowerdir)
	if err != nil {
		return nil, false, err
	}
	if bl, err := m.Store.Baseline(id); err != nil || bl != nil {
		return bl, false, err
	}
	entries, err := m.collect(ctx, real, m.Walk)
	if err != nil {
		return nil, false, fmt.Errorf("baseline layer %s: %w", real, err)
	}
	bl = &Baseline{ID: id, Kind: "layer", Path: real, Dev: dev, Inode: ino, Created: time.Now().UTC()}
	if image != "" {
		bl.Images = []string{image}
	}
	if err := m.Store.PutBaseline(bl, entries); err != nil {
		return nil, false, fmt.Errorf("store baseline of layer %s: %w", real, err)
	}
	return bl, true, nil
}

// Layers baselines the lower layers of c that have none (topmost first)
// and returns their ids and those created now.
func (m *Monitor) Layers(ctx context.Context, c *Container) (ids, created []string, err error) {
	image := c.ImageDigest
	if image == "" {
		image = c.Image
	}
	for _, lower := range c.Overlay.Lower {
		bl, made, err := m.BaselineLayer(ctx, lower, image)
		if err != nil {
			return nil, nil, err
		}
		ids = append(ids, bl.ID)
		if made {
			created = append(created, bl.ID)
		}
	}
	return ids, created, nil
}

// Drift is what changed in container c: its upper layer compared with the
// baselines of its lower layers (made now for layers that have none), and
// with the changes accepted for it. It costs what the upper layer holds,
// not the image's size. A container whose upper layer vanishes during
// the check (it was removed) gives an error wrapping fs.ErrNotExist.
func (m *Monitor) Drift(ctx context.Context, c *Container) ([]Change, []string, error) {
	ids, created, err := m.Layers(ctx, c)
	if err != nil {
		return nil, created, err
	}
	upper, err := m.collect(ctx, c.Overlay.Upper, m.Walk)
	if err != nil {
		return nil, created, fmt.Errorf("container %s: upper layer: %w", container.ShortID(c.ID), err)
	}
	var out []Change
	err = m.Store.Read(func(l *Lookup) error {
		inUpper := map[string]bool{}
		for _, e := range upper {
			inUpper[e.Path] = true
		}
		for _, e := range upper {
			out = append(out, classify(l, c, ids, e.Path, e)...)
			if e.Opaque() {
				out = append(out, hiddenByOpaque(l, c, ids, e.Path, inUpper)...)
			}
		}
		return nil
	})
	return out, created, err
}

// DriftPath classifies one path of container c now (the real-time path):
// its upper-layer entry, if any, against the layers below.
func (m *Monitor) DriftPath(ctx context.Context, c *Container, ids []string, p string) ([]Change, error) {
	e, err := statEntry(ctx, c.Overlay.Upper, p, m.Walk)
	if err != nil {
		return nil, err
	}
	var out []Change
	err = m.Store.Read(func(l *Lookup) error {
		if e == nil {
			return nil // not in the upper layer: the image's file shows
		}
		out = classify(l, c, ids, p, e)
		return nil
	})
	return out, err
}

// statEntry records the entry at rel below root, or nil when none is.
func statEntry(ctx context.Context, root, rel string, opts WalkOptions) (*Entry, error) {
	dir, name := path.Split(rel)
	var found *Entry
	opts.Exclude = nil
	err := walkOne(ctx, root, strings.TrimSuffix(dir, "/"), name, opts, func(e *Entry) { found = e })
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil, nil
	}
	return found, err
}

// classify judges the upper-layer entry e (at path p) of c.
func classify(l *Lookup, c *Container, ids []string, p string, e *Entry) []Change {
	if p == "/" || runtimePath(c.Overlay.MountPoints, p, e) {
		return nil
	}
	acc, accDeleted, accepted, err := l.Accepted(c.ID, p)
	if err != nil {
		return []Change{{Kind: Tampered, Path: p, Layer: "container/" + c.ID, Detail: err.Error()}}
	}
	old, layer, err := lowerGet(l, ids, p)
	if err != nil {
		return []Change{{Kind: Tampered, Path: p, Layer: layer, Detail: err.Error()}}
	}
	if e.Whiteout() {
		if old == nil || (accepted && accDeleted) {
			return nil
		}
		return []Change{{Kind: Deleted, Path: p, Layer: layer, Old: old}}
	}
	if accepted && acc != nil {
		old, layer = acc, "container/"+c.ID
	}
	if old == nil {
		return []Change{{Kind: Added, Path: p, New: e}}
	}
	kind, attrs := Compare(old, e, false)
	if kind == "" {
		return nil
	}
	return []Change{{Kind: kind, Path: p, Layer: layer, Old: old, New: e, Attrs: attrs}}
}

// runtimePath reports whether p is a mount point inside the container
// (the runtime's /etc/hosts, volumes), lies below one (hidden by what is
// mounted there) or is a directory the runtime made to mount on: they are
// the runtime's, not the container's changes.
func runtimePath(mounts []string, p string, e *Entry) bool {
	if runtimeLink(p, e) {
		return true
	}
	for _, m := range mounts {
		if m == p || strings.HasPrefix(p, m+"/") || (e.Type == TypeDir && strings.HasPrefix(m, p+"/")) {
			return true
		}
	}
	return false
}

// runtimeLinks are the symbolic links runtimes make in every container
// that lacks them (podman and runc: /etc/mtab), with the targets they
// give them. Only that exact link is the runtime's: another target, or a
// file at that path, is the container's change.
var runtimeLinks = map[string][]string{
	"/etc/mtab": {"/proc/mounts", "../proc/mounts", "/proc/self/mounts", "../proc/self/mounts"},
}

func runtimeLink(p string, e *Entry) bool {
	return e.Type == TypeSymlink && slices.Contains(runtimeLinks[p], e.Link)
}

// lowerGet looks p up in the layers (topmost first) as overlayfs would:
// the first layer holding it wins, a whiteout or an opaque directory
// above it hides the layers below.
func lowerGet(l *Lookup, ids []string, p string) (*Entry, string, error) {
	for _, id := range ids {
		e, err := l.Get(id, p)
		if err != nil {
			return nil, id, err
		}
		if e != nil {
			if e.Whiteout() {
				return nil, "", nil
			}
			return e, id, nil
		}
		for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
			a, err := l.Get(id, dir)
			if err != nil {
				return nil, id, err
			}
			if a != nil && a.Opaque() {
				return nil, "", nil
			}
		}
	}
	return nil, "", nil
}

// hiddenByOpaque reports the lower entries below the opaque directory dir
// of the upper layer that the upper layer does not hold: the container
// deleted them (rm -rf and mkdir again, or a directory replaced).
func hiddenByOpaque(l *Lookup, c *Container, ids []string, dir string, inUpper map[string]bool) []Change {
	seen := map[string]bool{}
	var out []Change
	for _, id := range ids {
		l.Under(id, dir, func(e *Entry) {
			if e.Path == dir || seen[e.Path] || inUpper[e.Path] {
				return
			}
			seen[e.Path] = true
			old, layer, err := lowerGet(l, ids, e.Path)
			if err != nil || old == nil {
				return
			}
			if _, del, ok, _ := l.Accepted(c.ID, e.Path); ok && del {
				return
			}
			out = append(out, Change{Kind: Deleted, Path: e.Path, Layer: layer, Old: old, Detail: "hidden by opaque directory " + dir})
		}, func(p Problem) {
			out = append(out, Change{Kind: Tampered, Path: p.Path, Layer: p.Baseline, Detail: p.Err.Error()})
		})
	}
	return out
}

// Verify walks the tree of baseline bl now and compares it with the
// baseline: every record that does not verify, every file added, deleted
// or changed. Files whose size, mtime, ctime and inode are unchanged
// keep their recorded digest unless rehash is set (a change of content
// without one of those is a write to the raw device).
func (m *Monitor) Verify(ctx context.Context, bl *Baseline, rehash bool) ([]Change, error) {
	base := map[string]*Entry{}
	var out []Change
	err := m.Store.Read(func(l *Lookup) error {
		l.All(bl, func(e *Entry) { base[e.Path] = e }, func(p Problem) {
			out = append(out, Change{Kind: Tampered, Path: p.Path, Layer: p.Baseline, Detail: p.Err.Error()})
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	opts := m.Walk
	if bl.Kind == "host" {
		opts = m.hostWalk(bl.Path)
	}
	if !rehash {
		opts.Reuse = func(e *Entry) string {
			if o := base[e.Path]; o != nil && o.Type == TypeFile && o.Size == e.Size && o.Mtime == e.Mtime && o.Ctime == e.Ctime && o.Inode == e.Inode {
				return o.Digest
			}
			return ""
		}
	}
	now, err := m.collect(ctx, bl.Path, opts)
	if err != nil {
		return out, fmt.Errorf("check %s: %w", bl.Path, err)
	}
	host := bl.Kind == "host"
	seen := map[string]bool{}
	for _, e := range now {
		seen[e.Path] = true
		o := base[e.Path]
		if o == nil {
			out = append(out, Change{Kind: Added, Path: e.Path, Layer: bl.ID, New: e})
			continue
		}
		if kind, attrs := Compare(o, e, host); kind != "" {
			out = append(out, Change{Kind: kind, Path: e.Path, Layer: bl.ID, Old: o, New: e, Attrs: attrs})
		}
	}
	for p, o := range base {
		if !seen[p] {
			out = append(out, Change{Kind: Deleted, Path: p, Layer: bl.ID, Old: o})
		}
	}
	slices.SortFunc(out, func(a, b Change) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// Running lists the containers /proc shows (under procRoot) whose root is
// an overlay with an upper layer, named by lookup (the container
// registry; nil or a nil answer leaves names empty). Containers with
// another root (a read-only rootfs of lower layers only, another storage
// driver) come back as errors saying so.
func Running(procRoot string, lookup func(fullID string) *container.Info) ([]*Container, []error) {
	procs, err := container.ScanProcs(procRoot)
	if err != nil {
		return nil, []error{fmt.Errorf("list containers from %s: %w", procRoot, err)}
	}
	ids := make([]string, 0, len(procs))
	for id := range procs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var out []*Container
	var errs []error
	for _, id := range ids {
		c, err := ContainerOf(procRoot, id, procs[id].Pid, lookup)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, c)
	}
	return out, errs
}

// ContainerOf describes the container id whose process pid is known.
func ContainerOf(procRoot, id string, pid int, lookup func(fullID string) *container.Info) (*Container, error) {
	ov, err := container.ReadOverlay(procRoot, pid)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", container.ShortID(id), err)
	}
	c := &Container{ID: id, Pid: pid, Overlay: ov}
	if lookup != nil {
		if info := lookup(id); info != nil {
			c.Name, c.Image, c.ImageDigest = info.Name, info.Image, info.ImageDigest
		}
	}
	return c, nil
}

// HostChange is how path rel of host baseline bl differs from it now; nil
// when it does not.
func (m *Monitor) HostChange(ctx context.Context, bl *Baseline, rel string) (*Change, error) {
	now, err := statEntry(ctx, bl.Path, rel, m.Walk)
	if err != nil {
		return nil, err
	}
	var was *Entry
	err = m.Store.Read(func(l *Lookup) error {
		var err error
		was, err = l.Get(bl.ID, rel)
		if errors.Is(err, errTampered) {
			was, err = nil, nil // a forged record is replaced by the accepted state
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	switch {
	case was == nil && now == nil:
		return nil, nil
	case was == nil:
		return &Change{Kind: Added, Path: rel, Layer: bl.ID, New: now}, nil
	case now == nil:
		return &Change{Kind: Deleted, Path: rel, Layer: bl.ID, Old: was}, nil
	}
	kind, attrs := Compare(was, now, true)
	if kind == "" {
		return nil, nil
	}
	return &Change{Kind: kind, Path: rel, Layer: bl.ID, Old: was, New: now, Attrs: attrs}, nil
}
