package fields

import (
	"sort"
	"strconv"
	"strings"

	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/event"
)

// info returns the runtime metadata of the process's container, or nil.
func (c *Ctx) info() *container.Info {
	if c.Proc == nil {
		return nil
	}
	if i := c.Proc.Container.Load(); i != nil {
		return i
	}
	return c.container(c.Proc.ContainerID)
}

// metaField registers a container field read from runtime metadata; on the
// host, hostValue (if non-empty) is returned, as Falco does for
// container.name.
func metaField(name string, t Type, desc string, hostValue string, get func(i *container.Info) (Value, bool)) {
	simple(name, t, desc, func(c *Ctx) (Value, bool) {
		if c.Proc == nil {
			return Value{}, false
		}
		if c.Proc.ContainerID == "" {
			if hostValue != "" {
				return str(hostValue)
			}
			return Value{}, false
		}
		i := c.info()
		if i == nil {
			return Value{}, false
		}
		return get(i)
	})
}

func labelsText(m map[string]string) (Value, bool) {
	if len(m) == 0 {
		return Value{}, false
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k)
		b.WriteByte(':')
		b.WriteString(m[k])
	}
	return str(b.String())
}

// containerArgField registers a container field with a required argument
// (a label key, a mount index or path), read from the runtime's metadata.
func containerArgField(name, desc string, get func(i *container.Info, arg string) (Value, bool)) {
	register(&Field{Name: name, Type: String, Desc: desc, Arg: KeyArg, ArgRequired: true,
		bind: func(arg string, _ bool) (Extractor, Multi, error) {
			return func(c *Ctx) (Value, bool) {
				if c.Proc == nil || c.Proc.ContainerID == "" {
					return Value{}, false
				}
				i := c.info()
				if i == nil {
					return Value{}, false
				}
				return get(i, arg)
			}, nil, nil
		}})
}

func labelField(name, desc string, get func(i *container.Info) map[string]string) {
	containerArgField(name, desc, func(i *container.Info, key string) (Value, bool) {
		v, ok := get(i)[key]
		return Value{S: v}, ok
	})
}

// mountText renders a mount as Falco does: source:dest:mode:rdrw:propagation.
func mountText(m *container.Mount) string {
	return m.Source + ":" + m.Dest + ":" + m.Mode + ":" + strconv.FormatBool(m.RW) + ":" + m.Propagation
}

// findMount picks a mount by index ([0]) or by a glob on byPath (the
// source, or for container.mount.source the destination): the first
// that matches.
func findMount(ms []container.Mount, arg string, byPath func(*container.Mount) string) *container.Mount {
	if n, err := strconv.Atoi(arg); err == nil {
		if n >= 0 && n < len(ms) {
			return &ms[n]
		}
		return nil
	}
	for i := range ms {
		if GlobMatch(arg, byPath(&ms[i]), false) {
			return &ms[i]
		}
	}
	return nil
}

// mountField is one of the container.mount* fields with a required
// argument: a mount index or a path glob.
func mountField(name, desc string, byPath func(*container.Mount) string, get func(*container.Mount) string, none bool) {
	containerArgField(name, desc, func(i *container.Info, arg string) (Value, bool) {
		m := findMount(i.Mounts, arg, byPath)
		switch {
		case m != nil:
			return str(get(m))
		case none:
			return str("none")
		}
		return Value{}, false
	})
}

func init() {
	source := func(m *container.Mount) string { return m.Source }
	dest := func(m *container.Mount) string { return m.Dest }
	metaField("container.mounts", String, "the container's mounts, comma-separated, each as source:dest:mode:rdrw:propagation", "", func(i *container.Info) (Value, bool) {
		if len(i.Mounts) == 0 {
			return Value{}, false
		}
		parts := make([]string, len(i.Mounts))
		for n := range i.Mounts {
			parts[n] = mountText(&i.Mounts[n])
		}
		return str(strings.Join(parts, ","))
	})
	mountField("container.mount", "one mount, by index (container.mount[0]) or source glob (container.mount[/usr/local/*]), as source:dest:mode:rdrw:propagation; none when there is no such mount",
		source, mountText, true)
	mountField("container.mount.source", "source of a mount, by index or destination glob (container.mount.source[/host/lib/modules])", dest, source, false)
	mountField("container.mount.dest", "destination of a mount, by index or source glob (container.mount.dest[/lib/modules])", source, dest, false)
	mountField("container.mount.mode", "mode of a mount, by index or source glob", source, func(m *container.Mount) string { return m.Mode }, false)
	mountField("container.mount.rdwr", "whether a mount is writable (true or false), by index or source glob", source, func(m *container.Mount) string { return strconv.FormatBool(m.RW) }, false)
	mountField("container.mount.propagation", "propagation of a mount (rprivate, rslave, rshared ...), by index or source glob", source, func(m *container.Mount) string { return m.Propagation }, false)

	// Kubernetes objects above the pod: Falco keeps these fields for old
	// rules and outputs, and they never have a value.
	for _, kind := range []string{"rc", "svc", "ns", "rs", "deployment"} {
		never := func(*Ctx) (Value, bool) { return Value{}, false }
		if kind != "ns" {
			simple("k8s."+kind+".name", String, "deprecated in Falco: never has a value", never)
		}
		simple("k8s."+kind+".id", String, "deprecated in Falco: never has a value", never)
		simple("k8s."+kind+".labels", String, "deprecated in Falco: never has a value", never)
		register(&Field{Name: "k8s." + kind + ".label", Type: String, Desc: "deprecated in Falco: never has a value", Arg: KeyArg, ArgRequired: true,
			bind: func(string, bool) (Extractor, Multi, error) { return never, nil, nil }})
	}

	simple("container.id", String, "first 12 characters of the container id, or host", func(c *Ctx) (Value, bool) {
		if c.Proc == nil {
			return Value{}, false
		}
		return str(c.Proc.ShortContainerID())
	})
	simple("container.full_id", String, "full 64-character container id, or host", func(c *Ctx) (Value, bool) {
		if c.Proc == nil {
			return Value{}, false
		}
		if c.Proc.ContainerID == "" {
			return str(container.HostID)
		}
		return str(c.Proc.ContainerID)
	})
	metaField("container.name", String, "container name as the runtime knows it (host outside containers)", container.HostID, func(i *container.Info) (Value, bool) { return nonEmptyV(i.Name) })
	metaField("container.image", String, "image the container runs, as named when it was started", "", func(i *container.Info) (Value, bool) { return nonEmptyV(i.Image) })
	metaField("container.image.id", String, "id of the container's image", "", func(i *container.Info) (Value, bool) { return nonEmptyV(i.ImageID) })
	metaField("container.image.repository", String, "repository part of the image name", "", func(i *container.Info) (Value, bool) { return nonEmptyV(i.ImageRepository) })
	metaField("container.image.tag", String, "tag part of the image name", "", func(i *container.Info) (Value, bool) { return nonEmptyV(i.ImageTag) })
	metaField("container.image.digest", String, "digest of the image", "", func(i *container.Info) (Value, bool) { return nonEmptyV(i.ImageDigest) })
	metaField("container.type", String, "container runtime: docker, podman, containerd, cri-o", "host", func(i *container.Info) (Value, bool) { return nonEmptyV(i.Type) })
	metaField("container.privileged", Bool, "true for a privileged container", "", func(i *container.Info) (Value, bool) { return boolean(i.Privileged) })
	metaField("container.start_ts", AbsTime, "start time of the container", "", func(i *container.Info) (Value, bool) { return Value{N: i.StartTs}, i.StartTs != 0 })
	simple("container.duration", RelTime, "nanoseconds since the container started", func(c *Ctx) (Value, bool) {
		if i := c.info(); i != nil && i.StartTs != 0 {
			return num(c.Evt.Time - i.StartTs)
		}
		return Value{}, false
	})
	metaField("container.host_pid", Bool, "true when the container shares the host's pid namespace", "", func(i *container.Info) (Value, bool) { return boolean(i.HostPID) })
	metaField("container.host_network", Bool, "true when the container shares the host's network namespace", "", func(i *container.Info) (Value, bool) { return boolean(i.HostNetwork) })
	metaField("container.host_ipc", Bool, "true when the container shares the host's ipc namespace", "", func(i *container.Info) (Value, bool) { return boolean(i.HostIPC) })
	metaField("container.ip", String, "IP address of the container", "", func(i *container.Info) (Value, bool) { return nonEmptyV(i.IP) })
	metaField("container.user", String, "truesight: user the container's process runs as, per its configuration", "", func(i *container.Info) (Value, bool) { return nonEmptyV(i.User) })
	metaField("container.readonly_root", Bool, "truesight: true when the container's root filesystem is read-only", "", func(i *container.Info) (Value, bool) { return boolean(i.ReadOnlyRoot) })
	labelField("container.label", "value of one container label, e.g. container.label[app]", func(i *container.Info) map[string]string { return i.Labels })
	metaField("container.labels", String, "all container labels as key:value pairs", "", func(i *container.Info) (Value, bool) { return labelsText(i.Labels) })

	metaField("k8s.pod.name", String, "name of the Kubernetes pod the container belongs to", "", func(i *container.Info) (Value, bool) { return nonEmptyV(i.PodName) })
	metaField("k8s.ns.name", String, "Kubernetes namespace of the pod", "", func(i *container.Info) (Value, bool) { return nonEmptyV(i.PodNamespace) })
	metaField("k8s.pod.uid", String, "uid of the Kubernetes pod", "", func(i *container.Info) (Value, bool) { return nonEmptyV(i.PodUID) })
	metaField("k8s.pod.id", String, "deprecated alias of k8s.pod.uid", "", func(i *container.Info) (Value, bool) { return nonEmptyV(i.PodUID) })
	metaField("k8s.pod.sandbox_id", String, "first 12 characters of the pod sandbox id", "", func(i *container.Info) (Value, bool) { return nonEmptyV(container.ShortID(i.PodSandboxID)) })
	metaField("k8s.pod.full_sandbox_id", String, "full pod sandbox id", "", func(i *container.Info) (Value, bool) { return nonEmptyV(i.PodSandboxID) })
	metaField("k8s.pod.ip", String, "IP address of the pod", "", func(i *container.Info) (Value, bool) { return nonEmptyV(i.PodIP) })
	labelField("k8s.pod.label", "value of one pod label, e.g. k8s.pod.label.app or k8s.pod.label[app]", func(i *container.Info) map[string]string { return i.PodLabels })
	metaField("k8s.pod.labels", String, "all pod labels as key:value pairs", "", func(i *container.Info) (Value, bool) { return labelsText(i.PodLabels) })

	findingField("finding.kind", "truesight: kind of detector finding (hidden_process, view_mismatch, preload_config, preload_env, injected_library, posture, enforce, file_drift)", func(f *event.Finding) string { return f.Kind })
	findingField("finding.summary", "truesight: one-line summary of the finding", func(f *event.Finding) string { return f.Summary })
	findingField("finding.views", "truesight: for hidden processes, which views disagree", func(f *event.Finding) string { return f.Views })
	findingField("finding.library", "truesight: the library involved, as a path inside its root", func(f *event.Finding) string { return f.Library })
	findingField("finding.sha256", "truesight: sha256 of the library involved", func(f *event.Finding) string { return f.SHA256 })
	findingField("finding.symbols", "truesight: libc symbols the library overrides, comma-separated", func(f *event.Finding) string { return f.Symbols })
	findingField("finding.root", "truesight: the root filesystem the finding was made in", func(f *event.Finding) string { return f.Root })
	findingField("finding.path", "truesight: file drift: the file, as a path in the container it changed in", func(f *event.Finding) string { return f.Path })
	findingField("finding.change", "truesight: file drift: added, modified (content), metadata (mode, owner, xattrs, mtime) or deleted", func(f *event.Finding) string { return f.Change })
	findingField("finding.layer", "truesight: file drift: the image layer (or host baseline) the file's old state comes from", func(f *event.Finding) string { return f.Layer })
	findingField("finding.old_sha256", "truesight: file drift: the digest of the file before (sha256:...)", func(f *event.Finding) string { return f.OldSHA256 })
	findingField("finding.new_sha256", "truesight: file drift: the digest of the file now", func(f *event.Finding) string { return f.NewSHA256 })
	findingField("finding.old_mode", "truesight: file drift: the file's mode before, octal (04755 is setuid)", func(f *event.Finding) string { return f.OldMode })
	findingField("finding.new_mode", "truesight: file drift: the file's mode now, octal", func(f *event.Finding) string { return f.NewMode })
	findingField("finding.container_id", "truesight: file drift: the container the file changed in (12 characters), which may not be the writer's (container.id)", func(f *event.Finding) string { return container.ShortID(f.Container) })
	findingField("finding.container_name", "truesight: file drift: the name of the container the file changed in", func(f *event.Finding) string { return f.ContainerName })
	findingField("finding.container_image", "truesight: file drift: the image of the container the file changed in", func(f *event.Finding) string { return f.ContainerImage })
	findingField("finding.writer", "truesight: file drift: the writing process and its container, as text", func(f *event.Finding) string { return f.Writer })
	register(&Field{Name: "finding.detail", Type: String, Desc: "truesight: one detail of the finding by key, e.g. finding.detail[pids]", Arg: KeyArg, ArgRequired: true,
		bind: func(arg string, _ bool) (Extractor, Multi, error) {
			return func(c *Ctx) (Value, bool) {
				if c.Evt.Finding == nil {
					return Value{}, false
				}
				v, ok := c.Evt.Finding.Detail[arg]
				return Value{S: v}, ok
			}, nil, nil
		}})
}

func findingField(name, desc string, get func(f *event.Finding) string) {
	simple(name, String, desc, func(c *Ctx) (Value, bool) {
		if c.Evt.Finding == nil {
			return Value{}, false
		}
		return nonEmptyV(get(c.Evt.Finding))
	})
}
