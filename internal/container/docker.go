package container

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// dockerClient speaks the Docker Engine API over a unix socket: Docker
// itself, and Podman's compatible service, which also answers the few
// libpod calls used for pods.
type dockerClient struct {
	path    string
	timeout time.Duration
	http    *http.Client

	mu     sync.Mutex
	prefix string // /v1.41: the API version the daemon speaks
	podman bool
	images map[string]dockerImage // by image id
}

func newDockerClient(path string, timeout time.Duration) *dockerClient {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		MaxIdleConns:    4,
		IdleConnTimeout: 30 * time.Second,
	}
	return &dockerClient{path: path, timeout: timeout, http: &http.Client{Transport: tr}, images: map[string]dockerImage{}}
}

func (d *dockerClient) kind() string   { return "docker" }
func (d *dockerClient) socket() string { return d.path }

func (d *dockerClient) engine() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.podman {
		return "podman"
	}
	return "docker"
}

func (d *dockerClient) close() { d.http.CloseIdleConnections() }

// get decodes the JSON answer to a GET of path into v; 404 is errNotFound.
func (d *dockerClient) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker"+path, nil)
	if err != nil {
		return err
	}
	resp, err := d.http.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode == http.StatusNotFound {
		_, _ = io.Copy(io.Discard, resp.Body)
		return errNotFound
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, strings.TrimSpace(string(body)))
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func (d *dockerClient) api() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.prefix
}

func (d *dockerClient) connect(ctx context.Context) error {
	var v struct {
		APIVersion string `json:"ApiVersion"`
		Components []struct {
			Name string
		}
	}
	// The unversioned path answers on every API version.
	if err := d.get(ctx, "/version", &v); err != nil {
		return fmt.Errorf("docker API at %s: %w", d.path, err)
	}
	podman := false
	for _, c := range v.Components {
		if strings.Contains(c.Name, "Podman") {
			podman = true
		}
	}
	d.mu.Lock()
	d.podman = podman
	d.prefix = ""
	if v.APIVersion != "" {
		d.prefix = "/v" + v.APIVersion
	}
	d.mu.Unlock()
	return nil
}

func (d *dockerClient) running(ctx context.Context) ([]string, error) {
	var list []struct {
		ID string `json:"Id"`
	}
	if err := d.get(ctx, d.api()+"/containers/json", &list); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(list))
	for _, c := range list {
		ids = append(ids, c.ID)
	}
	return ids, nil
}

// dockerInspect is the part of GET /containers/{id}/json we read.
type dockerInspect struct {
	ID      string `json:"Id"`
	Name    string
	Image   string // image id
	Created string
	State   struct {
		Pid       int64
		StartedAt string
		Running   bool
	}
	Config struct {
		Image  string // as the user named it
		User   string
		Labels map[string]string
	}
	HostConfig struct {
		Privileged     bool
		ReadonlyRootfs bool
		PidMode        string
		IpcMode        string
		NetworkMode    string
	}
	NetworkSettings struct {
		IPAddress string
		Networks  map[string]struct{ IPAddress string }
	}
	GraphDriver struct {
		Data map[string]string
	}
	Mounts []struct {
		Source      string
		Destination string
		Mode        string
		RW          bool
		Propagation string
	}
}

type dockerImage struct {
	ID          string `json:"Id"`
	RepoDigests []string
	Config      struct{ User string }
}

func (d *dockerClient) inspect(ctx context.Context, id string) (*Info, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	var c dockerInspect
	if err := d.get(ctx, d.api()+"/containers/"+url.PathEscape(id)+"/json", &c); err != nil {
		return nil, err
	}
	if c.ID != id {
		// The API resolves prefixes and names; only the exact id counts.
		return nil, errNotFound
	}
	img := d.image(ctx, c.Image)
	info := &Info{
		ID:           ShortID(c.ID),
		FullID:       c.ID,
		Type:         d.engine(),
		Name:         strings.TrimPrefix(c.Name, "/"),
		Privileged:   c.HostConfig.Privileged,
		StartTs:      parseTime(c.State.StartedAt),
		User:         c.Config.User,
		ReadOnlyRoot: c.HostConfig.ReadonlyRootfs,
		HostPID:      c.HostConfig.PidMode == "host",
		HostNetwork:  c.HostConfig.NetworkMode == "host",
		HostIPC:      c.HostConfig.IpcMode == "host",
		Labels:       c.Config.Labels,
		IP:           c.NetworkSettings.IPAddress,
		Pid:          c.State.Pid,
		RootPath:     c.GraphDriver.Data["MergedDir"],
		Runtime:      "docker:" + d.path,
	}
	for _, m := range c.Mounts {
		info.Mounts = append(info.Mounts, Mount{Source: m.Source, Dest: m.Destination, Mode: m.Mode, RW: m.RW, Propagation: m.Propagation})
	}
	if info.User == "" {
		info.User = img.Config.User
	}
	if info.User == "" {
		info.User = "0" // neither container nor image names a user: root
	}
	if info.IP == "" {
		for _, n := range c.NetworkSettings.Networks {
			if n.IPAddress != "" {
				info.IP = n.IPAddress
				break
			}
		}
	}
	info.setImage(c.Config.Image, c.Image, "")
	if info.ImageDigest == "" {
		info.ImageDigest = repoDigest(info.ImageRepository, img.RepoDigests)
	}
	pidOwner, _ := strings.CutPrefix(c.HostConfig.PidMode, "container:")
	if d.engine() == "podman" {
		d.podmanPod(ctx, info, pidOwner)
	} else if sb := c.Config.Labels[LabelSandboxID]; sb != "" {
		d.dockershimPod(ctx, info, sb, pidOwner)
	}
	info.setKube()
	return info, nil
}

// image returns the image's record, cached by id; a failure returns an
// empty record (the image fields then come from the reference alone).
func (d *dockerClient) image(ctx context.Context, id string) dockerImage {
	d.mu.Lock()
	img, ok := d.images[id]
	d.mu.Unlock()
	if ok || id == "" {
		return img
	}
	if err := d.get(ctx, d.api()+"/images/"+url.PathEscape(id)+"/json", &img); err != nil {
		return dockerImage{}
	}
	d.mu.Lock()
	if len(d.images) > 1024 {
		clear(d.images)
	}
	d.images[id] = img
	d.mu.Unlock()
	return img
}

// podmanPod fills the pod fields of a container in a podman pod from the
// libpod API on the same socket.
func (d *dockerClient) podmanPod(ctx context.Context, info *Info, pidOwner string) {
	var c struct{ Pod string }
	if err := d.get(ctx, "/v4.0.0/libpod/containers/"+info.FullID+"/json", &c); err != nil || c.Pod == "" {
		return
	}
	var p struct {
		Name             string
		InfraContainerID string
		Labels           map[string]string
		SharedNamespaces []string
	}
	if err := d.get(ctx, "/v4.0.0/libpod/pods/"+c.Pod+"/json", &p); err != nil {
		return
	}
	info.PodName = p.Name // kubelet labels, when present, override it
	info.PodSandboxID = p.InfraContainerID
	info.PodLabels = podLabels(p.Labels)
	info.PodSharedPID = pidOwner != "" && pidOwner == p.InfraContainerID
}

// dockershimPod fills the pod fields of a container the kubelet made
// through dockershim: the pod's labels sit on its sandbox container.
func (d *dockerClient) dockershimPod(ctx context.Context, info *Info, sandbox, pidOwner string) {
	info.PodSandboxID = sandbox
	info.PodSharedPID = pidOwner == sandbox
	var s dockerInspect
	if err := d.get(ctx, d.api()+"/containers/"+url.PathEscape(sandbox)+"/json", &s); err != nil {
		return
	}
	info.PodLabels = podLabels(s.Config.Labels)
	if s.NetworkSettings.IPAddress != "" {
		info.PodIP = s.NetworkSettings.IPAddress
	}
}

// watch follows GET /events for containers.
func (d *dockerClient) watch(ctx context.Context, report func(change)) error {
	filters := url.QueryEscape(`{"type":["container"]}`)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker"+d.api()+"/events?filters="+filters, nil)
	if err != nil {
		return err
	}
	resp, err := d.http.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /events: %s", resp.Status)
	}
	dec := json.NewDecoder(bufio.NewReader(resp.Body))
	for {
		var ev struct {
			Type   string
			Action string
			Actor  struct {
				ID string
			}
			TimeNano int64 `json:"timeNano"`
		}
		if err := dec.Decode(&ev); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, io.EOF) {
				return errors.New("event stream closed by the daemon")
			}
			return fmt.Errorf("event stream: %w", err)
		}
		if ev.Type != "container" || len(ev.Actor.ID) != 64 {
			continue
		}
		at := time.Now()
		if ev.TimeNano != 0 {
			at = time.Unix(0, ev.TimeNano)
		}
		switch ev.Action {
		case "create", "start", "restart", "unpause", "rename", "update":
			report(change{id: ev.Actor.ID, kind: changeStarted, at: at})
		case "die", "died", "destroy", "remove", "cleanup":
			report(change{id: ev.Actor.ID, kind: changeExited, at: at})
		}
	}
}

// parseTime reads an RFC 3339 time as nanoseconds since the epoch; the zero
// time runtimes print for "never" gives 0.
func parseTime(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return 0
	}
	return t.UnixNano()
}
