package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	cri "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// criClient speaks the Kubernetes Container Runtime Interface, as the
// kubelet does: containerd's CRI plugin or CRI-O. It knows the containers
// the kubelet created, with their pod.
type criClient struct {
	path    string
	timeout time.Duration

	mu      sync.Mutex
	conn    *grpc.ClientConn
	runtime cri.RuntimeServiceClient
	images  cri.ImageServiceClient
	name    string // containerd, cri-o
}

// pollEvery is how often the container list is compared when the runtime
// has no CRI event stream (containerd before 1.7).
const pollEvery = 2 * time.Second

func newCRIClient(path string, timeout time.Duration) *criClient {
	return &criClient{path: path, timeout: timeout}
}

func (c *criClient) kind() string   { return "cri" }
func (c *criClient) socket() string { return c.path }

func (c *criClient) engine() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.name == "" {
		return "cri"
	}
	return c.name
}

func (c *criClient) connect(ctx context.Context) error {
	c.close()
	conn, err := dialUnix(c.path)
	if err != nil {
		return err
	}
	rt := cri.NewRuntimeServiceClient(conn)
	v, err := rt.Version(ctx, &cri.VersionRequest{Version: "v1"})
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("CRI at %s: %w", c.path, err)
	}
	c.mu.Lock()
	c.conn, c.runtime, c.images, c.name = conn, rt, cri.NewImageServiceClient(conn), v.RuntimeName
	c.mu.Unlock()
	return nil
}

func (c *criClient) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn, c.runtime, c.images = nil, nil, nil
	}
}

func (c *criClient) clients() (cri.RuntimeServiceClient, cri.ImageServiceClient, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.runtime == nil {
		return nil, nil, errors.New("not connected")
	}
	return c.runtime, c.images, nil
}

func (c *criClient) running(ctx context.Context) ([]string, error) {
	rt, _, err := c.clients()
	if err != nil {
		return nil, err
	}
	resp, err := rt.ListContainers(ctx, &cri.ListContainersRequest{Filter: &cri.ContainerFilter{
		State: &cri.ContainerStateValue{State: cri.ContainerState_CONTAINER_RUNNING},
	}})
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(resp.Containers))
	for _, ct := range resp.Containers {
		ids = append(ids, ct.Id)
	}
	return ids, nil
}

// criVerbose is the part of a verbose ContainerStatus's "info" we read
// (containerd's layout; CRI-O's differs and is read where it matches).
type criVerbose struct {
	Pid         int64           `json:"pid"`
	RuntimeSpec json.RawMessage `json:"runtimeSpec"`
	Config      struct {
		Linux struct {
			SecurityContext struct {
				Privileged       bool `json:"privileged"`
				ReadonlyRootfs   bool `json:"readonly_rootfs"`
				NamespaceOptions struct {
					Pid int32 `json:"pid"`
				} `json:"namespace_options"`
			} `json:"security_context"`
		} `json:"linux"`
	} `json:"config"`
}

// criPropagation names CRI's mount propagation as the OCI spec does.
var criPropagation = map[cri.MountPropagation]string{
	cri.MountPropagation_PROPAGATION_PRIVATE:           "rprivate",
	cri.MountPropagation_PROPAGATION_HOST_TO_CONTAINER: "rslave",
	cri.MountPropagation_PROPAGATION_BIDIRECTIONAL:     "rshared",
}

func (c *criClient) inspect(ctx context.Context, id string) (*Info, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	rt, img, err := c.clients()
	if err != nil {
		return nil, err
	}
	list, err := rt.ListContainers(ctx, &cri.ListContainersRequest{Filter: &cri.ContainerFilter{Id: id}})
	if err != nil {
		return nil, err
	}
	if len(list.Containers) == 0 || list.Containers[0].Id != id {
		return nil, errNotFound
	}
	sandboxID := list.Containers[0].PodSandboxId
	resp, err := rt.ContainerStatus(ctx, &cri.ContainerStatusRequest{ContainerId: id, Verbose: true})
	if status.Code(err) == codes.NotFound {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	st := resp.Status
	info := &Info{
		ID:      ShortID(id),
		FullID:  id,
		Type:    c.engine(),
		Name:    st.GetMetadata().GetName(),
		StartTs: st.StartedAt,
		Labels:  st.Labels,
		Runtime: "cri:" + c.path,
	}
	for _, m := range st.Mounts {
		info.Mounts = append(info.Mounts, Mount{Source: m.HostPath, Dest: m.ContainerPath, RW: !m.Readonly,
			Propagation: criPropagation[m.Propagation]})
	}
	var v criVerbose
	if raw := resp.Info["info"]; raw != "" {
		_ = json.Unmarshal([]byte(raw), &v)
	}
	if len(v.RuntimeSpec) > 0 {
		if spec, err := parseOCISpec(v.RuntimeSpec); err == nil {
			spec.apply(info)
		}
	}
	sc := v.Config.Linux.SecurityContext
	info.Privileged = sc.Privileged || info.Privileged
	info.ReadOnlyRoot = sc.ReadonlyRootfs || info.ReadOnlyRoot
	info.Pid = v.Pid

	// The image: the name the kubelet asked for, and the ids the image
	// service knows it by.
	ref := st.GetImage().GetImage()
	is, _ := img.ImageStatus(ctx, &cri.ImageStatusRequest{Image: &cri.ImageSpec{Image: ref}})
	var (
		imageID     string
		repoDigests []string
	)
	if im := is.GetImage(); im != nil {
		imageID, repoDigests = im.Id, im.RepoDigests
		if isImageID(ref) && len(im.RepoTags) > 0 {
			ref = im.RepoTags[0]
		}
	}
	if isImageID(ref) {
		if name := st.Annotations["io.kubernetes.cri.image-name"]; name != "" {
			ref = name
		}
	}
	if imageID == "" && isImageID(st.ImageRef) {
		imageID = st.ImageRef
	}
	info.setImage(ref, imageID, "")
	if info.ImageDigest == "" {
		info.ImageDigest = repoDigest(info.ImageRepository, repoDigests)
	}

	if sandboxID != "" {
		info.PodSandboxID = sandboxID
		if ps, err := rt.PodSandboxStatus(ctx, &cri.PodSandboxStatusRequest{PodSandboxId: sandboxID}); err == nil && ps.Status != nil {
			s := ps.Status
			info.PodName = s.GetMetadata().GetName()
			info.PodNamespace = s.GetMetadata().GetNamespace()
			info.PodUID = s.GetMetadata().GetUid()
			info.PodLabels = podLabels(s.Labels)
			info.PodIP = s.GetNetwork().GetIp()
			info.IP = info.PodIP
			opts := s.GetLinux().GetNamespaces().GetOptions()
			info.HostNetwork = opts.GetNetwork() == cri.NamespaceMode_NODE
			info.HostIPC = opts.GetIpc() == cri.NamespaceMode_NODE
			info.HostPID = opts.GetPid() == cri.NamespaceMode_NODE
			info.PodSharedPID = opts.GetPid() == cri.NamespaceMode_POD
		}
	}
	if cri.NamespaceMode(sc.NamespaceOptions.Pid) == cri.NamespaceMode_NODE {
		info.HostPID, info.PodSharedPID = true, false
	}
	info.setKube()
	return info, nil
}

// watch follows the CRI container event stream, or, where the runtime has
// none, compares the container list every pollEvery.
func (c *criClient) watch(ctx context.Context, report func(change)) error {
	rt, _, err := c.clients()
	if err != nil {
		return err
	}
	stream, err := rt.GetContainerEvents(ctx, &cri.GetEventsRequest{})
	if err == nil {
		var ev *cri.ContainerEventResponse
		ev, err = stream.Recv()
		for err == nil {
			at := time.Unix(0, ev.CreatedAt)
			switch ev.ContainerEventType {
			case cri.ContainerEventType_CONTAINER_CREATED_EVENT, cri.ContainerEventType_CONTAINER_STARTED_EVENT:
				report(change{id: ev.ContainerId, kind: changeStarted, at: at})
			case cri.ContainerEventType_CONTAINER_STOPPED_EVENT, cri.ContainerEventType_CONTAINER_DELETED_EVENT:
				report(change{id: ev.ContainerId, kind: changeExited, at: at})
			}
			ev, err = stream.Recv()
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if status.Code(err) != codes.Unimplemented {
		if errors.Is(err, io.EOF) {
			return errors.New("CRI event stream closed by the runtime")
		}
		return fmt.Errorf("CRI event stream: %w", err)
	}
	return c.poll(ctx, rt, report)
}

func (c *criClient) poll(ctx context.Context, rt cri.RuntimeServiceClient, report func(change)) error {
	var prev map[string]bool
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		lctx, cancel := context.WithTimeout(ctx, c.timeout)
		resp, err := rt.ListContainers(lctx, &cri.ListContainersRequest{})
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("CRI list containers: %w", err)
		}
		now := make(map[string]bool, len(resp.Containers))
		for _, ct := range resp.Containers {
			if ct.State == cri.ContainerState_CONTAINER_RUNNING {
				now[ct.Id] = true
				if prev != nil && !prev[ct.Id] {
					report(change{id: ct.Id, kind: changeStarted, at: time.Now()})
				}
			}
		}
		for id := range prev {
			if !now[id] {
				report(change{id: id, kind: changeExited, at: time.Now()})
			}
		}
		prev = now
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
