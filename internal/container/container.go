package container

import (
	"regexp"
	"strings"
)

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
}

// idPatterns recognise the container id in the cgroup path layouts of the
// runtimes we know: docker, podman/libpod, containerd (CRI), cri-o and
// plain /docker/<id>, each for cgroup v1 and v2 (systemd and cgroupfs).
var idPattern = regexp.MustCompile(`(?:^|/)(?:docker-|libpod-|cri-containerd-|crio-|docker/|libpod/|containerd/|crio/)?([0-9a-f]{64})(?:\.scope)?(?:/|$)`)

// IDFromCgroup extracts the full 64-character container id from one cgroup
// path, or returns "" when the path names no container.
func IDFromCgroup(path string) string {
	if !strings.ContainsAny(path, "0123456789abcdef") || len(path) < 64 {
		return ""
	}
	m := idPattern.FindAllStringSubmatch(path, -1)
	if len(m) == 0 {
		return ""
	}
	// The innermost id wins (nested runtimes).
	return m[len(m)-1][1]
}

// ShortID returns the 12-character form Falco prints as container.id.
func ShortID(full string) string {
	if len(full) > 12 {
		return full[:12]
	}
	return full
}
