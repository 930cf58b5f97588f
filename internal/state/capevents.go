package state

import (
	"encoding/json"
	"strings"

	"github.com/truesightsec/truesight/internal/capture"
	"github.com/truesightsec/truesight/internal/container"
)

// containerRecord is the JSON that container events of the capture carry
// (libsinsp's container manager writes it).
type containerRecord struct {
	Container struct {
		ID           string            `json:"id"`
		FullID       string            `json:"full_id"`
		Name         string            `json:"name"`
		Image        string            `json:"image"`
		ImageID      string            `json:"imageid"`
		ImageRepo    string            `json:"imagerepo"`
		ImageTag     string            `json:"imagetag"`
		ImageDigest  string            `json:"imagedigest"`
		Privileged   bool              `json:"privileged"`
		Type         int               `json:"type"`
		Labels       map[string]string `json:"labels"`
		IP           string            `json:"ip"`
		User         string            `json:"User"`
		CreatedTime  int64             `json:"created_time"`
		HostPID      bool              `json:"host_pid"`
		HostNetwork  bool              `json:"host_network"`
		HostIPC      bool              `json:"host_ipc"`
		PodSandboxID string            `json:"pod_sandbox_id"`
	} `json:"container"`
}

// containerTypes names libsinsp's container type numbers.
var containerTypes = map[int]string{
	0: "docker", 1: "lxc", 2: "libvirt-lxc", 3: "mesos", 4: "rkt", 5: "custom",
	6: "cri", 7: "containerd", 8: "cri-o", 9: "bpm", 10: "static", 11: "podman",
}

// containerEvent records a container's metadata. The event's process is
// the container itself, as libsinsp presents it (container:<id>), so that
// container fields of rules on evt.type=container work.
func (m *Machine) containerEvent(sc *capture.Syscall) *Process {
	x := sc.Exit
	var info container.Info
	if e, i := sc.Param("json"); e != nil {
		var rec containerRecord
		if json.Unmarshal([]byte(strings.TrimRight(e.String(i), "\n")), &rec) != nil {
			return nil
		}
		c := rec.Container
		info = container.Info{
			ID: container.ShortID(c.ID), FullID: c.ID, Name: c.Name, Image: c.Image,
			ImageID: c.ImageID, ImageRepository: c.ImageRepo, ImageTag: c.ImageTag,
			ImageDigest: c.ImageDigest, Privileged: c.Privileged, Type: containerTypes[c.Type],
			Labels: c.Labels, IP: c.IP, User: c.User, StartTs: c.CreatedTime * 1e9,
			HostPID: c.HostPID, HostNetwork: c.HostNetwork, HostIPC: c.HostIPC,
			PodSandboxID: c.PodSandboxID,
		}
		if c.FullID != "" {
			info.FullID = c.FullID
		}
		if ns := c.Labels["io.kubernetes.pod.namespace"]; ns != "" {
			info.PodNamespace = ns
			info.PodName = c.Labels["io.kubernetes.pod.name"]
			info.PodUID = c.Labels["io.kubernetes.pod.uid"]
		}
	} else {
		// The old record: id, type, name, image as parameters.
		info.FullID = stringParam(sc, "id")
		info.ID = container.ShortID(info.FullID)
		info.Name = stringParam(sc, "name")
		info.Image = stringParam(sc, "image")
		if t, ok := uintParam(sc, "type"); ok {
			info.Type = containerTypes[int(t)]
		}
	}
	if info.FullID == "" {
		return nil
	}
	ci := &info
	m.containers[info.FullID] = ci
	m.containers[info.ID] = ci
	p := &Process{Pid: x.Tid, Tid: x.Tid, LoginUID: -1, ContainerID: info.FullID, Root: "/"}
	p.SetComm("container:" + info.ID)
	p.Container.Store(ci)
	return p
}

func (m *Machine) userEvent(sc *capture.Syscall, k kind) {
	uid, _ := uintParam(sc, "uid")
	gid, _ := uintParam(sc, "gid")
	name := stringParam(sc, "name")
	switch k {
	case kUserAdded:
		m.users[uint32(uid)] = capture.User{UID: uint32(uid), GID: uint32(gid), Name: name,
			Home: stringParam(sc, "home"), Shell: stringParam(sc, "shell"), ContainerID: stringParam(sc, "container_id")}
	case kUserDeleted:
		delete(m.users, uint32(uid))
	case kGroupAdded:
		m.groups[uint32(gid)] = name
	case kGroupDeleted:
		delete(m.groups, uint32(gid))
	}
}
