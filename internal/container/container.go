package container

import "strings"

// HostID is the container id Falco reports for processes outside any
// container.
const HostID = "host"

// Info is what is known about one container. Fields the runtime has not told
// us yet are empty and print as <NA>.
type Info struct {
	ID              string // first 12 hex characters of FullID
	FullID          string
	Type            string // docker, podman, containerd, cri-o
	Name            string
	Image           string // as the user named it, e.g. nginx:1.25
	ImageID         string
	ImageRepository string
	ImageTag        string
	ImageDigest     string
	Privileged      bool
	StartTs         int64 // nanoseconds since the epoch
	User            string
	ReadOnlyRoot    bool
	HostPID         bool
	HostNetwork     bool
	HostIPC         bool
	Labels          map[string]string
	IP              string

	PodName      string
	PodNamespace string
	PodUID       string
	PodSandboxID string
	PodLabels    map[string]string
	PodIP        string

	// PodSharedPID is true when the container shares its pod's PID
	// namespace (a Kubernetes pod with shareProcessNamespace, a podman pod
	// sharing pid), so its processes see the other containers' processes.
	PodSharedPID bool
	// Pid is the host pid of the container's init process; 0 if unknown.
	Pid int64
	// RootPath is the container's root filesystem as the host sees it.
	RootPath string
	// Runtime names the API and socket that described the container, e.g.
	// docker:/run/podman/podman.sock.
	Runtime string
	// Mounts are the volumes and bind mounts the runtime reports (not the
	// runtime's own /proc, /dev and /sys), in its order.
	Mounts []Mount
}

// Mount is one volume or bind mount of a container.
type Mount struct {
	Source      string // on the host
	Dest        string // in the container
	Mode        string // the runtime's mode string (docker: z, Z, ro, ...)
	RW          bool
	Propagation string // e.g. rprivate
}

// IDFromCgroup extracts the full 64-character container id from one cgroup
// path, or returns "" when the path names no container. It recognises the
// layouts of docker (docker-<id>.scope, /docker/<id>), podman
// (libpod-<id>, /libpod_parent/<pod>/libpod-<id>), containerd
// (cri-containerd-<id>.scope, /<ns>/<id>) and cri-o (crio-<id>.scope), for
// cgroup v1 and v2 and both cgroup drivers. The innermost id wins, so a
// container in a pod is not mistaken for its pod.
func IDFromCgroup(path string) string {
	if len(path) < 64 {
		return ""
	}
	id, prev := "", ""
	for path != "" {
		var comp string
		if i := strings.IndexByte(path, '/'); i >= 0 {
			comp, path = path[:i], path[i+1:]
		} else {
			comp, path = path, ""
		}
		// Under podman's cgroupfs parent a bare id is a pod, not a
		// container (its conmon lives in /libpod_parent/<pod>/conmon).
		if c := idOfComponent(comp); c != "" && (prev != "libpod_parent" || c != comp) {
			id = c
		}
		prev = comp
	}
	return id
}

var idPrefixes = []string{"docker-", "libpod-", "cri-containerd-", "crio-", "libpod-conmon-"}

func idOfComponent(c string) string {
	c = strings.TrimSuffix(c, ".scope")
	if strings.HasPrefix(c, "libpod-conmon-") {
		// conmon's own cgroup under systemd: not the container.
		return ""
	}
	for _, p := range idPrefixes {
		if strings.HasPrefix(c, p) {
			c = c[len(p):]
			break
		}
	}
	if len(c) != 64 {
		return ""
	}
	for i := 0; i < len(c); i++ {
		if b := c[i]; (b < '0' || b > '9') && (b < 'a' || b > 'f') {
			return ""
		}
	}
	return c
}

// ShortID returns the 12-character form Falco prints as container.id.
func ShortID(full string) string {
	if len(full) > 12 {
		return full[:12]
	}
	return full
}
