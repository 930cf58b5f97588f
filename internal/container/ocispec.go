package container

import (
	"encoding/json"
	"slices"
	"strconv"
)

// ociSpec is the part of an OCI runtime spec (config.json) that says how a
// container was confined. containerd stores it with the container; CRI's
// verbose status carries it as runtimeSpec.
type ociSpec struct {
	Process *struct {
		User struct {
			UID      uint32 `json:"uid"`
			GID      uint32 `json:"gid"`
			Username string `json:"username"`
		} `json:"user"`
		Capabilities *struct {
			Bounding []string `json:"bounding"`
		} `json:"capabilities"`
	} `json:"process"`
	Root *struct {
		Path     string `json:"path"`
		Readonly bool   `json:"readonly"`
	} `json:"root"`
	Annotations map[string]string `json:"annotations"`
	Linux       *struct {
		Namespaces []struct {
			Type string `json:"type"`
			Path string `json:"path"`
		} `json:"namespaces"`
		MaskedPaths   []string `json:"maskedPaths"`
		ReadonlyPaths []string `json:"readonlyPaths"`
	} `json:"linux"`
}

func parseOCISpec(data []byte) (*ociSpec, error) {
	var s ociSpec
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// namespace reports whether the spec gives the container a namespace of
// this type, and whether it joins an existing one (a path) rather than
// creating its own. No entry means the host's namespace.
func (s *ociSpec) namespace(typ string) (own bool, joins bool) {
	if s.Linux == nil {
		return false, false
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == typ {
			return true, ns.Path != ""
		}
	}
	return false, false
}

// privileged recognises what runtimes do for a privileged container: every
// capability including CAP_SYS_ADMIN, and no masked or read-only /proc and
// /sys paths. The spec has no "privileged" bit of its own.
func (s *ociSpec) privileged() bool {
	if s.Process == nil || s.Process.Capabilities == nil || s.Linux == nil {
		return false
	}
	return slices.Contains(s.Process.Capabilities.Bounding, "CAP_SYS_ADMIN") &&
		len(s.Linux.MaskedPaths) == 0 && len(s.Linux.ReadonlyPaths) == 0
}

// user is the container's user: its name when the spec has one, else the
// numeric uid (as Falco's container plugin reports it).
func (s *ociSpec) user() string {
	if s.Process == nil {
		return ""
	}
	if s.Process.User.Username != "" {
		return s.Process.User.Username
	}
	return strconv.FormatUint(uint64(s.Process.User.UID), 10)
}

// apply fills what the spec says into i.
func (s *ociSpec) apply(i *Info) {
	i.User = s.user()
	i.Privileged = s.privileged()
	if s.Root != nil {
		i.ReadOnlyRoot = s.Root.Readonly
	}
	if s.Linux != nil {
		own, joins := s.namespace("pid")
		i.HostPID = !own
		i.PodSharedPID = joins && s.Annotations["io.kubernetes.cri.container-type"] == "container"
		own, _ = s.namespace("network")
		i.HostNetwork = !own
		own, _ = s.namespace("ipc")
		i.HostIPC = !own
	}
}

// hostViaSandbox corrects the host_* flags of a pod's container: it joins
// its sandbox's namespaces by path, so it shares the host's namespace when
// the sandbox has none of its own.
func hostViaSandbox(i *Info, spec, sandbox *ociSpec) {
	for _, ns := range []struct {
		typ  string
		host *bool
	}{{"pid", &i.HostPID}, {"network", &i.HostNetwork}, {"ipc", &i.HostIPC}} {
		if _, joins := spec.namespace(ns.typ); !joins {
			continue
		}
		if own, _ := sandbox.namespace(ns.typ); !own {
			*ns.host = true
			if ns.typ == "pid" {
				i.PodSharedPID = false
			}
		}
	}
}
