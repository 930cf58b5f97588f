package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	containersapi "github.com/containerd/containerd/api/services/containers/v1"
	contentapi "github.com/containerd/containerd/api/services/content/v1"
	eventsapi "github.com/containerd/containerd/api/services/events/v1"
	imagesapi "github.com/containerd/containerd/api/services/images/v1"
	namespacesapi "github.com/containerd/containerd/api/services/namespaces/v1"
	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	versionapi "github.com/containerd/containerd/api/services/version/v1"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
)

// containerdClient speaks containerd's own gRPC API. It searches every
// namespace (default for ctr, k8s.io for the CRI plugin, moby for Docker).
type containerdClient struct {
	path    string
	timeout time.Duration

	mu     sync.Mutex
	conn   *grpc.ClientConn
	images map[string]imageIDs // by namespace + "/" + target digest
}

// imageIDs are an image's manifest digest (what a pull resolves the tag
// to) and config digest (what crictl and docker show as IMAGE ID).
type imageIDs struct{ digest, id string }

func newContainerdClient(path string, timeout time.Duration) *containerdClient {
	return &containerdClient{path: path, timeout: timeout, images: map[string]imageIDs{}}
}

func (c *containerdClient) kind() string   { return "containerd" }
func (c *containerdClient) socket() string { return c.path }

// dialUnix opens a lazy gRPC connection to a unix socket.
func dialUnix(path string) (*grpc.ClientConn, error) {
	return grpc.NewClient("unix://"+path,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20)))
}

func (c *containerdClient) connect(ctx context.Context) error {
	c.close()
	conn, err := dialUnix(c.path)
	if err != nil {
		return err
	}
	if _, err := versionapi.NewVersionClient(conn).Version(ctx, &emptypb.Empty{}); err != nil {
		_ = conn.Close()
		return fmt.Errorf("containerd API at %s: %w", c.path, err)
	}
	c.mu.Lock()
	c.conn = conn
	c.mu.Unlock()
	return nil
}

func (c *containerdClient) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
}

func (c *containerdClient) cc() (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return nil, errors.New("not connected")
	}
	return c.conn, nil
}

// inNamespace is how containerd is told which namespace a call is about.
func inNamespace(ctx context.Context, ns string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "containerd-namespace", ns)
}

func (c *containerdClient) namespaces(ctx context.Context, conn *grpc.ClientConn) ([]string, error) {
	resp, err := namespacesapi.NewNamespacesClient(conn).List(ctx, &namespacesapi.ListNamespacesRequest{})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(resp.Namespaces))
	for _, n := range resp.Namespaces {
		out = append(out, n.Name)
	}
	return out, nil
}

func (c *containerdClient) running(ctx context.Context) ([]string, error) {
	conn, err := c.cc()
	if err != nil {
		return nil, err
	}
	nss, err := c.namespaces(ctx, conn)
	if err != nil {
		return nil, err
	}
	var ids []string
	tasks := tasksapi.NewTasksClient(conn)
	for _, ns := range nss {
		resp, err := tasks.List(inNamespace(ctx, ns), &tasksapi.ListTasksRequest{})
		if err != nil {
			return nil, err
		}
		for _, t := range resp.Tasks {
			if t.Status == tasktypes.Status_RUNNING || t.Status == tasktypes.Status_PAUSED {
				ids = append(ids, t.ID)
			}
		}
	}
	return ids, nil
}

func (c *containerdClient) inspect(ctx context.Context, id string) (*Info, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	conn, err := c.cc()
	if err != nil {
		return nil, err
	}
	nss, err := c.namespaces(ctx, conn)
	if err != nil {
		return nil, err
	}
	containers := containersapi.NewContainersClient(conn)
	for _, ns := range nss {
		nctx := inNamespace(ctx, ns)
		resp, err := containers.Get(nctx, &containersapi.GetContainerRequest{ID: id})
		if status.Code(err) == codes.NotFound {
			continue
		}
		if err != nil {
			return nil, err
		}
		return c.describe(nctx, conn, ns, resp.Container)
	}
	return nil, errNotFound
}

func (c *containerdClient) describe(ctx context.Context, conn *grpc.ClientConn, ns string, ct *containersapi.Container) (*Info, error) {
	info := &Info{
		ID:      ShortID(ct.ID),
		FullID:  ct.ID,
		Type:    "containerd",
		Labels:  ct.Labels,
		Runtime: "containerd:" + c.path,
	}
	// containerd has no container names; use the name a front end gave.
	info.Name = ct.Labels["nerdctl/name"]
	if info.Name == "" {
		info.Name = ct.Labels[LabelContainerName]
	}
	if info.Name == "" {
		info.Name = ShortID(ct.ID)
	}
	// containerd keeps no start time; the record's creation is when the
	// container was made (ctr run, the CRI plugin: just before start).
	if ct.CreatedAt != nil {
		info.StartTs = ct.CreatedAt.AsTime().UnixNano()
	}
	var spec *ociSpec
	if ct.Spec != nil {
		s, err := parseOCISpec(ct.Spec.Value)
		if err != nil {
			return nil, fmt.Errorf("container %s: runtime spec: %w", ct.ID, err)
		}
		spec = s
		s.apply(info)
	}
	img := c.image(ctx, conn, ns, ct.Image)
	info.setImage(ct.Image, img.id, img.digest)

	if t, err := tasksapi.NewTasksClient(conn).Get(ctx, &tasksapi.GetRequest{ContainerID: ct.ID}); err == nil && t.Process != nil &&
		(t.Process.Status == tasktypes.Status_RUNNING || t.Process.Status == tasktypes.Status_PAUSED) {
		info.Pid = int64(t.Process.Pid)
	}

	// A container of a CRI pod: the pod's labels sit on its sandbox.
	sandbox := ct.Sandbox
	if sandbox == "" && spec != nil {
		sandbox = spec.Annotations["io.kubernetes.cri.sandbox-id"]
	}
	if sandbox != "" && sandbox != ct.ID {
		info.PodSandboxID = sandbox
		if resp, err := containersapi.NewContainersClient(conn).Get(ctx, &containersapi.GetContainerRequest{ID: sandbox}); err == nil {
			info.PodLabels = podLabels(resp.Container.Labels)
			if spec != nil && resp.Container.Spec != nil {
				if sb, err := parseOCISpec(resp.Container.Spec.Value); err == nil {
					hostViaSandbox(info, spec, sb)
				}
			}
		}
	}
	info.setKube()
	return info, nil
}

// image resolves an image name to its manifest and config digests, read
// from containerd's image and content stores; cached by target digest.
func (c *containerdClient) image(ctx context.Context, conn *grpc.ClientConn, ns, name string) imageIDs {
	if name == "" {
		return imageIDs{}
	}
	resp, err := imagesapi.NewImagesClient(conn).Get(ctx, &imagesapi.GetImageRequest{Name: name})
	if err != nil || resp.Image == nil || resp.Image.Target == nil {
		return imageIDs{}
	}
	target := resp.Image.Target
	key := ns + "/" + target.Digest
	c.mu.Lock()
	ids, ok := c.images[key]
	c.mu.Unlock()
	if ok {
		return ids
	}
	ids = imageIDs{digest: target.Digest}
	digest := target.Digest
	for range 2 { // an index, then the manifest it names for this platform
		data, err := readContent(ctx, conn, digest)
		if err != nil {
			break
		}
		var m struct {
			MediaType string `json:"mediaType"`
			Config    struct {
				Digest string `json:"digest"`
			} `json:"config"`
			Manifests []struct {
				Digest   string `json:"digest"`
				Platform *struct {
					OS           string `json:"os"`
					Architecture string `json:"architecture"`
				} `json:"platform"`
			} `json:"manifests"`
		}
		if json.Unmarshal(data, &m) != nil {
			break
		}
		if m.Config.Digest != "" {
			ids.id = m.Config.Digest
			break
		}
		next := ""
		for _, d := range m.Manifests {
			if d.Platform == nil || (d.Platform.OS == "linux" && d.Platform.Architecture == runtime.GOARCH) {
				next = d.Digest
				break
			}
		}
		if next == "" {
			break
		}
		digest = next
	}
	c.mu.Lock()
	if len(c.images) > 1024 {
		clear(c.images)
	}
	c.images[key] = ids
	c.mu.Unlock()
	return ids
}

// readContent reads one blob (a manifest or index: small) from the
// content store.
func readContent(ctx context.Context, conn *grpc.ClientConn, digest string) ([]byte, error) {
	stream, err := contentapi.NewContentClient(conn).Read(ctx, &contentapi.ReadContentRequest{Digest: digest})
	if err != nil {
		return nil, err
	}
	var out []byte
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, resp.Data...)
		if len(out) > 4<<20 {
			return nil, errors.New("blob too large for a manifest")
		}
	}
}

// watch follows containerd's event stream for container and task events.
func (c *containerdClient) watch(ctx context.Context, report func(change)) error {
	conn, err := c.cc()
	if err != nil {
		return err
	}
	stream, err := eventsapi.NewEventsClient(conn).Subscribe(ctx, &eventsapi.SubscribeRequest{
		Filters: []string{`topic~="^/tasks/"`, `topic~="^/containers/"`},
	})
	if err != nil {
		return err
	}
	for {
		env, err := stream.Recv()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("event stream: %w", err)
		}
		if env.Event == nil {
			continue
		}
		at := time.Now()
		if env.Timestamp != nil {
			at = env.Timestamp.AsTime()
		}
		var (
			id   string
			kind = changeStarted
		)
		switch env.Topic {
		case "/containers/create":
			var e apievents.ContainerCreate
			if proto.Unmarshal(env.Event.Value, &e) == nil {
				id = e.ID
			}
		case "/containers/update":
			var e apievents.ContainerUpdate
			if proto.Unmarshal(env.Event.Value, &e) == nil {
				id = e.ID
			}
		case "/tasks/start":
			var e apievents.TaskStart
			if proto.Unmarshal(env.Event.Value, &e) == nil {
				id = e.ContainerID
			}
		case "/tasks/exit":
			var e apievents.TaskExit
			// Exits of exec'd processes carry their own ID; only the
			// init process's exit ends the container.
			if proto.Unmarshal(env.Event.Value, &e) == nil && (e.ID == e.ContainerID || e.ID == "") {
				id, kind = e.ContainerID, changeExited
				if e.ExitedAt != nil {
					at = e.ExitedAt.AsTime()
				}
			}
		case "/tasks/delete":
			var e apievents.TaskDelete
			if proto.Unmarshal(env.Event.Value, &e) == nil {
				id, kind = e.ContainerID, changeExited
			}
		case "/containers/delete":
			var e apievents.ContainerDelete
			if proto.Unmarshal(env.Event.Value, &e) == nil {
				id, kind = e.ID, changeExited
			}
		}
		if id != "" {
			report(change{id: id, kind: kind, at: at})
		}
	}
}
