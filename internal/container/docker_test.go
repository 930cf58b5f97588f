package container_test

import (
	"fmt"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/fields"
	"github.com/truesightsec/truesight/internal/output"
	"github.com/truesightsec/truesight/internal/state"
	"github.com/truesightsec/truesight/internal/testenv"
)

// podmanInspect is what `podman inspect` says, to compare against.
type podmanInspect struct {
	ID    string `json:"Id"`
	Image string
	State struct {
		StartedAt string
		Pid       int64
	}
	Network struct{ IPAddress string }       `json:"NetworkSettings"`
	Graph   struct{ Data map[string]string } `json:"GraphDriver"`
	Mounts  []struct {
		Source, Destination, Mode, Propagation string
		RW                                     bool
	}
}

func inspectContainer(t *testing.T, id string) podmanInspect {
	t.Helper()
	var v []podmanInspect
	podmanJSON(t, &v, "inspect", "--type", "container", id)
	return v[0]
}

func imageDigest(t *testing.T) string {
	return testenv.Podman(t, "image", "inspect", "--format", "{{.Digest}}", testenv.Image)
}

func TestDockerAPIDescribesPodmanContainers(t *testing.T) {
	sock, _ := startPodmanService(t)
	reg, warns := runRegistry(t, container.Options{Docker: []string{sock}})

	// A standalone container that shares every host namespace, with a
	// read-only and a writable bind mount.
	roDir, rwDir := t.TempDir(), t.TempDir()
	hostID := testenv.StartContainer(t, "ts-meta-host", []string{
		"--privileged", "--pid=host", "--network=host", "--ipc=host",
		"--user", "101:101", "--read-only",
		"--label", "app=probe", "--label", "team=sec",
		"-v", roDir + ":/data:ro", "-v", rwDir + ":/var/run/app",
	}, "sleep", "1000")

	// A pod sharing its PID namespace, with the labels the kubelet sets.
	_ = exec.Command("podman", "pod", "rm", "-f", "-t", "0", "ts-meta-pod").Run()
	podID := testenv.Podman(t, "pod", "create", "--name", "ts-meta-pod", "--share", "pid,ipc,net",
		"--label", "app=web", "--label", "tier=front")
	t.Cleanup(func() { _ = exec.Command("podman", "pod", "rm", "-f", "-t", "0", podID).Run() })
	infra := testenv.Podman(t, "pod", "inspect", "--format", "{{.InfraContainerID}}", podID)
	const uid = "7c1e4f0a-9b2d-4c3e-8f6a-5d4c3b2a1f0e"
	appID := testenv.StartContainer(t, "ts-meta-app", []string{
		"--pod", podID,
		"--label", "io.kubernetes.pod.name=web-0",
		"--label", "io.kubernetes.pod.namespace=prod",
		"--label", "io.kubernetes.pod.uid=" + uid,
		"--label", "io.kubernetes.container.name=app",
	}, "sleep", "1000")

	imageID := testenv.Podman(t, "image", "inspect", "--format", "{{.Id}}", testenv.Image)
	digest := imageDigest(t)
	if !strings.HasPrefix(digest, "sha256:") {
		t.Fatalf("image digest %q", digest)
	}

	h := inspectContainer(t, hostID)
	wantHost := &container.Info{
		ID: hostID[:12], FullID: hostID, Type: "podman", Name: "ts-meta-host",
		Image: testenv.Image, ImageID: imageID,
		ImageRepository: "localhost/truesight-test-bb", ImageTag: "latest", ImageDigest: digest,
		Privileged: true, StartTs: rfc3339(t, h.State.StartedAt), User: "101:101", ReadOnlyRoot: true,
		HostPID: true, HostNetwork: true, HostIPC: true,
		Labels: map[string]string{"app": "probe", "team": "sec"},
		Pid:    h.State.Pid, RootPath: h.Graph.Data["MergedDir"], Runtime: "docker:" + sock,
	}
	if len(h.Mounts) != 2 {
		t.Fatalf("podman inspect shows %d mounts, want the 2 binds", len(h.Mounts))
	}
	for _, m := range h.Mounts {
		wantHost.Mounts = append(wantHost.Mounts, container.Mount{Source: m.Source, Dest: m.Destination, Mode: m.Mode, RW: m.RW, Propagation: m.Propagation})
	}
	gotHost := waitInfo(t, reg, hostID, started)
	if !reflect.DeepEqual(gotHost, wantHost) {
		t.Errorf("host-namespace container:\n got %+v\nwant %+v", gotHost, wantHost)
	}

	a := inspectContainer(t, appID)
	if a.Network.IPAddress == "" {
		t.Fatalf("podman gave the pod no IP address")
	}
	wantApp := &container.Info{
		ID: appID[:12], FullID: appID, Type: "podman", Name: "ts-meta-app",
		Image: testenv.Image, ImageID: imageID,
		ImageRepository: "localhost/truesight-test-bb", ImageTag: "latest", ImageDigest: digest,
		StartTs: rfc3339(t, a.State.StartedAt), User: "0",
		Labels: map[string]string{
			"io.kubernetes.pod.name": "web-0", "io.kubernetes.pod.namespace": "prod",
			"io.kubernetes.pod.uid": uid, "io.kubernetes.container.name": "app",
		},
		IP:      a.Network.IPAddress,
		PodName: "web-0", PodNamespace: "prod", PodUID: uid, PodSandboxID: infra,
		PodLabels: map[string]string{"app": "web", "tier": "front"}, PodIP: a.Network.IPAddress,
		PodSharedPID: true,
		Pid:          a.State.Pid, RootPath: a.Graph.Data["MergedDir"], Runtime: "docker:" + sock,
	}
	gotApp := waitInfo(t, reg, appID, started)
	if !reflect.DeepEqual(gotApp, wantApp) {
		t.Errorf("pod container:\n got %+v\nwant %+v", gotApp, wantApp)
	}

	// The fields an alert prints read the registry through fields.Ctx.
	format, err := output.Compile("%container.id %container.name %container.type %container.image.repository " +
		"%container.image.tag %container.privileged %container.host_pid %container.user %container.readonly_root " +
		"%k8s.pod.name %k8s.ns.name %k8s.pod.uid %k8s.pod.label.app %k8s.pod.labels %container.label[team] " +
		"%container.mount.dest[" + roDir + "] %container.mount.rdwr[/data-not-a-source] %container.mount[9] %container.mount.source[/var/run/*]")
	if err != nil {
		t.Fatal(err)
	}
	render := func(id string) string {
		p := &state.Process{Pid: 1234, ContainerID: id}
		c := &fields.Ctx{Evt: &event.Event{Time: time.Now().UnixNano()}, Proc: p, Containers: reg.Lookup}
		return format.String(c)
	}
	if got, want := render(appID),
		appID[:12]+" ts-meta-app podman localhost/truesight-test-bb latest false false 0 false web-0 prod "+uid+" web app:web, tier:front <NA> <NA> <NA> none <NA>"; got != want {
		t.Errorf("alert fields of the pod container:\n got %s\nwant %s", got, want)
	}
	if got, want := render(hostID),
		hostID[:12]+" ts-meta-host podman localhost/truesight-test-bb latest true true 101:101 true <NA> <NA> <NA> <NA> <NA> sec /data <NA> none "+rwDir; got != want {
		t.Errorf("alert fields of the host-namespace container:\n got %s\nwant %s", got, want)
	}

	mounts, err := output.Compile("%container.mounts")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, m := range h.Mounts {
		want = append(want, fmt.Sprintf("%s:%s:%s:%t:%s", m.Source, m.Destination, m.Mode, m.RW, m.Propagation))
	}
	c := &fields.Ctx{Evt: &event.Event{}, Proc: &state.Process{Pid: 1234, ContainerID: hostID}, Containers: reg.Lookup}
	if got := mounts.String(c); got != strings.Join(want, ",") {
		t.Errorf("container.mounts = %q, want %q", got, strings.Join(want, ","))
	}

	if w := warns.list("WARN"); len(w) != 0 {
		t.Errorf("unexpected warnings: %q", w)
	}
}
