package fim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"github.com/truesightsec/truesight/internal/container"
)

// Report is the result of a check: the drift of every container, the
// lower layers that no longer match their baselines (once each, with the
// containers that use them), the host paths, and what could not be
// checked.
type Report struct {
	Containers []ContainerReport `json:"containers"`
	Layers     []TreeReport      `json:"layers"`
	Hosts      []TreeReport      `json:"hosts"`
	// Baselined are the layers first seen (and baselined) by this check.
	Baselined []string `json:"baselined,omitempty"`
	Errors    []string `json:"errors,omitempty"`
}

// ContainerReport is one container's drift.
type ContainerReport struct {
	Container
	Upper   string   `json:"upper"`
	Layers  []string `json:"layers"`
	Changes []Change `json:"changes"`
	// Note says why the container was not checked (it exited).
	Note string `json:"note,omitempty"`
}

// TreeReport is the changes of one baselined tree.
type TreeReport struct {
	ID   string `json:"id"`
	Path string `json:"path"`
	// Containers are the containers (names, else short ids) that use a
	// layer.
	Containers []string `json:"containers,omitempty"`
	Changes    []Change `json:"changes"`
}

// Changes counts every change of the report.
func (r *Report) Changes() int {
	n := 0
	for _, c := range r.Containers {
		n += len(c.Changes)
	}
	for _, t := range append(slices.Clone(r.Layers), r.Hosts...) {
		n += len(t.Changes)
	}
	return n
}

// Init baselines the host paths (replacing their baselines) and the lower
// layers of the containers that have none yet. Existing layer baselines
// are kept: a layer does not change, and hashing it again would hide a
// layer tampered with since.
func (m *Monitor) Init(ctx context.Context, hostPaths []string, cs []*Container) (made []*Baseline, errs []error) {
	for _, p := range hostPaths {
		bl, err := m.BaselineHost(ctx, p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		made = append(made, bl)
	}
	for _, c := range cs {
		_, created, err := m.Layers(ctx, c)
		if err != nil {
			errs = append(errs, fmt.Errorf("container %s: %w", c.Label(), err))
		}
		for _, id := range created {
			if bl, err := m.Store.Baseline(id); err == nil && bl != nil {
				made = append(made, bl)
			}
		}
	}
	return made, errs
}

// Label names a container: its name, else its short id.
func (c *Container) Label() string {
	if c.Name != "" {
		return c.Name
	}
	return container.ShortID(c.ID)
}

// Check computes the drift of the containers, verifies the layers they
// use (once each) and the host paths against their baselines.
func (m *Monitor) Check(ctx context.Context, hostPaths []string, cs []*Container, rehash bool) *Report {
	r := &Report{Containers: []ContainerReport{}, Layers: []TreeReport{}, Hosts: []TreeReport{}}
	users := map[string][]string{}
	var layerOrder []string
	for _, c := range cs {
		cr := ContainerReport{Container: *c, Upper: c.Overlay.Upper, Changes: []Change{}}
		changes, created, err := m.Drift(ctx, c)
		r.Baselined = append(r.Baselined, created...)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			cr.Note = "exited during the check"
		case err != nil:
			r.Errors = append(r.Errors, fmt.Sprintf("container %s: %v", c.Label(), err))
		default:
			cr.Changes = changes
		}
		if ids, _, err := m.Layers(ctx, c); err == nil {
			cr.Layers = ids
			for _, id := range ids {
				if users[id] == nil {
					layerOrder = append(layerOrder, id)
				}
				users[id] = append(users[id], c.Label())
			}
		}
		r.Containers = append(r.Containers, cr)
	}
	for _, id := range layerOrder {
		bl, err := m.Store.Baseline(id)
		if err != nil || bl == nil {
			r.Errors = append(r.Errors, fmt.Sprintf("layer %s: baseline unreadable: %v", id, err))
			continue
		}
		changes, err := m.Verify(ctx, bl, rehash)
		if err != nil {
			r.Errors = append(r.Errors, err.Error())
		}
		if len(changes) > 0 {
			r.Layers = append(r.Layers, TreeReport{ID: id, Path: bl.Path, Containers: users[id], Changes: changes})
		}
	}
	for _, p := range hostPaths {
		p = filepath.Clean(p)
		bl, err := m.Store.Baseline(HostID(p))
		if err != nil {
			r.Hosts = append(r.Hosts, TreeReport{ID: HostID(p), Path: p, Changes: []Change{{Kind: Tampered, Path: "", Layer: HostID(p), Detail: err.Error()}}})
			continue
		}
		if bl == nil {
			r.Errors = append(r.Errors, fmt.Sprintf("host path %s has no baseline: run truesight fim init (with the same --path)", p))
			continue
		}
		changes, err := m.Verify(ctx, bl, rehash)
		if err != nil {
			r.Errors = append(r.Errors, err.Error())
		}
		if len(changes) > 0 {
			r.Hosts = append(r.Hosts, TreeReport{ID: bl.ID, Path: p, Changes: changes})
		}
	}
	return r
}

// WriteJSON writes the report as one JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report for a reader, grouped by container, then
// by layer and host path.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	drifted := 0
	for _, c := range r.Containers {
		if len(c.Changes) == 0 && c.Note == "" {
			continue
		}
		drifted++
		fmt.Fprintf(&b, "container %s %s (image %s)", container.ShortID(c.ID), orNA(c.Name), orNA(c.Image))
		if c.Note != "" {
			fmt.Fprintf(&b, ": %s", c.Note)
		}
		b.WriteString("\n")
		writeChanges(&b, "", c.Changes)
	}
	for _, t := range r.Layers {
		fmt.Fprintf(&b, "image layer %s (used by %s): changed on the node\n", t.Path, strings.Join(t.Containers, ", "))
		writeChanges(&b, "", t.Changes)
	}
	for _, t := range r.Hosts {
		fmt.Fprintf(&b, "host %s\n", t.Path)
		writeChanges(&b, t.Path, t.Changes)
	}
	for _, id := range r.Baselined {
		fmt.Fprintf(&b, "note: %s was not baselined; baselined now\n", id)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(&b, "error: %s\n", e)
	}
	fmt.Fprintf(&b, "%d changes: %d of %d containers drifted, %d image layers and %d host paths changed\n",
		r.Changes(), drifted, len(r.Containers), len(r.Layers), len(r.Hosts))
	_, err := io.WriteString(w, b.String())
	return err
}

func orNA(s string) string {
	if s == "" {
		return "<NA>"
	}
	return s
}

// writeChanges lists changes, their paths below root (a host tree's).
func writeChanges(b *strings.Builder, root string, cs []Change) {
	for _, c := range cs {
		p := c.Path
		switch {
		case p == "":
			p = "(baseline)"
		case root != "":
			p = filepath.Join(root, p)
		}
		fmt.Fprintf(b, "  %-9s %s", c.Kind, p)
		if d := describe(c); d != "" {
			fmt.Fprintf(b, "  %s", d)
		}
		b.WriteString("\n")
	}
}

// describe says what differs, attribute by attribute.
func describe(c Change) string {
	switch {
	case c.Kind == Tampered:
		return c.Detail
	case c.Kind == Added && c.New != nil:
		return fmt.Sprintf("%s %04o %d:%d %d bytes %s", c.New.Type, c.New.Mode, c.New.UID, c.New.GID, c.New.Size, c.New.Digest)
	case c.Kind == Deleted && c.Old != nil:
		s := fmt.Sprintf("was %s %04o %d:%d %d bytes", c.Old.Type, c.Old.Mode, c.Old.UID, c.Old.GID, c.Old.Size)
		if c.Detail != "" {
			s += " (" + c.Detail + ")"
		}
		return s
	case c.Old == nil || c.New == nil:
		return c.Detail
	}
	var parts []string
	for _, a := range c.Attrs {
		o, n := c.Old, c.New
		switch a {
		case "mode":
			parts = append(parts, fmt.Sprintf("mode %04o -> %04o", o.Mode, n.Mode))
		case "uid":
			parts = append(parts, fmt.Sprintf("uid %d -> %d", o.UID, n.UID))
		case "gid":
			parts = append(parts, fmt.Sprintf("gid %d -> %d", o.GID, n.GID))
		case "size":
			parts = append(parts, fmt.Sprintf("size %d -> %d", o.Size, n.Size))
		case "digest":
			parts = append(parts, fmt.Sprintf("%s -> %s", short(o.Digest), short(n.Digest)))
		case "type":
			parts = append(parts, fmt.Sprintf("type %s -> %s", o.Type, n.Type))
		case "link":
			parts = append(parts, fmt.Sprintf("link %q -> %q", o.Link, n.Link))
		default:
			parts = append(parts, a)
		}
	}
	return strings.Join(parts, ", ")
}

func short(d string) string {
	if i := strings.IndexByte(d, ':'); i >= 0 && len(d) > i+13 {
		return d[:i+13]
	}
	return d
}
