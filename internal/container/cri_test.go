package container_test

import (
	"context"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	cri "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/testenv"
)

// kubeletPod plays the kubelet: it creates a pod through CRI, with the
// labels the kubelet puts on containers, and removes it at the end.
type kubeletPod struct {
	sandboxID, containerID string
	uid                    string
	dataDir                string // bind-mounted read-only at /data
}

func runKubeletPod(t *testing.T, ctd *containerd) (kubeletPod, cri.RuntimeServiceClient, cri.ImageServiceClient) {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+ctd.sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	rt, img := cri.NewRuntimeServiceClient(conn), cri.NewImageServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	p := kubeletPod{uid: "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", dataDir: t.TempDir()}
	sandbox := &cri.PodSandboxConfig{
		Metadata:     &cri.PodSandboxMetadata{Name: "web-0", Namespace: "prod", Uid: p.uid},
		Labels:       map[string]string{"app": "web", "tier": "front"},
		LogDirectory: filepath.Join(ctd.dir, "logs"),
		Linux: &cri.LinuxPodSandboxConfig{SecurityContext: &cri.LinuxSandboxSecurityContext{
			// Host network: no CNI plugin is needed, and none is installed.
			NamespaceOptions: &cri.NamespaceOption{Network: cri.NamespaceMode_NODE, Pid: cri.NamespaceMode_POD, Ipc: cri.NamespaceMode_POD},
		}},
	}
	rs, err := rt.RunPodSandbox(ctx, &cri.RunPodSandboxRequest{Config: sandbox})
	if err != nil {
		t.Fatalf("RunPodSandbox: %v\n%s", err, ctd.log.String())
	}
	p.sandboxID = rs.PodSandboxId
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = rt.StopPodSandbox(ctx, &cri.StopPodSandboxRequest{PodSandboxId: p.sandboxID})
		_, _ = rt.RemovePodSandbox(ctx, &cri.RemovePodSandboxRequest{PodSandboxId: p.sandboxID})
	})
	cc, err := rt.CreateContainer(ctx, &cri.CreateContainerRequest{
		PodSandboxId: p.sandboxID,
		Config: &cri.ContainerConfig{
			Metadata: &cri.ContainerMetadata{Name: "app"},
			Image:    &cri.ImageSpec{Image: testenv.Image},
			Command:  []string{"sleep", "1000"},
			Labels: map[string]string{
				container.LabelPodName: "web-0", container.LabelPodNamespace: "prod",
				container.LabelPodUID: p.uid, container.LabelContainerName: "app",
			},
			LogPath: "app.log",
			Mounts:  []*cri.Mount{{ContainerPath: "/data", HostPath: p.dataDir, Readonly: true}},
			Linux: &cri.LinuxContainerConfig{SecurityContext: &cri.LinuxContainerSecurityContext{
				ReadonlyRootfs:   true,
				RunAsUser:        &cri.Int64Value{Value: 101},
				NamespaceOptions: &cri.NamespaceOption{Network: cri.NamespaceMode_NODE, Pid: cri.NamespaceMode_POD, Ipc: cri.NamespaceMode_POD},
			}},
		},
		SandboxConfig: sandbox,
	})
	if err != nil {
		t.Fatalf("CreateContainer: %v", err)
	}
	p.containerID = cc.ContainerId
	if _, err := rt.StartContainer(ctx, &cri.StartContainerRequest{ContainerId: p.containerID}); err != nil {
		t.Fatalf("StartContainer: %v", err)
	}
	return p, rt, img
}

func TestCRIAndContainerdDescribeAKubeletPod(t *testing.T) {
	requirePauseImage(t)
	ctd := startContainerd(t, "[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \""+PauseImage+"\"\n  restrict_oom_score_adj = true\n", "k8s.io")
	ctd.importImage("k8s.io", PauseImage)
	pod, rt, img := runKubeletPod(t, ctd)

	// What CRI itself says, to compare against.
	ctx := context.Background()
	cs, err := rt.ContainerStatus(ctx, &cri.ContainerStatusRequest{ContainerId: pod.containerID})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := rt.PodSandboxStatus(ctx, &cri.PodSandboxStatusRequest{PodSandboxId: pod.sandboxID})
	if err != nil {
		t.Fatal(err)
	}
	is, err := img.ImageStatus(ctx, &cri.ImageStatusRequest{Image: &cri.ImageSpec{Image: testenv.Image}})
	if err != nil || is.Image == nil {
		t.Fatalf("ImageStatus: %v", err)
	}
	imageID := testenv.Podman(t, "image", "inspect", "--format", "{{.Id}}", testenv.Image)
	if is.Image.Id != "sha256:"+imageID {
		t.Fatalf("CRI image id %s, podman's %s", is.Image.Id, imageID)
	}
	var pid int64
	for _, line := range strings.Split(ctd.ctr("k8s.io", "tasks", "ls"), "\n") {
		if fs := strings.Fields(line); len(fs) >= 2 && fs[0] == pod.containerID {
			pid, _ = strconv.ParseInt(fs[1], 10, 64)
		}
	}
	if pid == 0 {
		t.Fatal("no task pid for the container")
	}
	kubeLabels := map[string]string{
		container.LabelPodName: "web-0", container.LabelPodNamespace: "prod",
		container.LabelPodUID: pod.uid, container.LabelContainerName: "app",
	}
	common := container.Info{
		ID: pod.containerID[:12], FullID: pod.containerID, Type: "containerd", Name: "app",
		Image: testenv.Image, ImageID: imageID, ImageRepository: "localhost/truesight-test-bb", ImageTag: "latest",
		User: "101", ReadOnlyRoot: true, HostNetwork: true,
		PodName: "web-0", PodNamespace: "prod", PodUID: pod.uid, PodSandboxID: pod.sandboxID,
		PodLabels: map[string]string{"app": "web", "tier": "front"}, PodSharedPID: true, Pid: pid,
	}

	t.Run("CRI", func(t *testing.T) {
		reg, warns := runRegistry(t, container.Options{CRI: []string{ctd.sock}})
		want := common
		want.StartTs = cs.Status.StartedAt
		want.Labels = kubeLabels
		want.IP, want.PodIP = ps.Status.GetNetwork().GetIp(), ps.Status.GetNetwork().GetIp()
		want.Runtime = "cri:" + ctd.sock
		want.Mounts = []container.Mount{{Source: pod.dataDir, Dest: "/data", RW: false, Propagation: "rprivate"}}
		got := waitInfo(t, reg, pod.containerID, started)
		if !reflect.DeepEqual(got, &want) {
			t.Errorf("through CRI:\n got %+v\nwant %+v", got, &want)
		}
		if w := warns.list("WARN"); len(w) != 0 {
			t.Errorf("warnings: %q", w)
		}
	})

	t.Run("containerd", func(t *testing.T) {
		reg, _ := runRegistry(t, container.Options{Containerd: []string{ctd.sock}})
		var info struct{ CreatedAt string }
		_ = info
		want := common
		want.StartTs = ctdCreated(t, ctd, pod.containerID)
		want.Labels = map[string]string{"io.cri-containerd.kind": "container"}
		for k, v := range kubeLabels {
			want.Labels[k] = v
		}
		want.ImageDigest = ctd.manifestDigest("k8s.io")
		want.Runtime = "containerd:" + ctd.sock
		got := waitInfo(t, reg, pod.containerID, started)
		if !reflect.DeepEqual(got, &want) {
			t.Errorf("through containerd:\n got %+v\nwant %+v", got, &want)
		}
	})
}

func ctdCreated(t *testing.T, ctd *containerd, id string) int64 {
	t.Helper()
	return ctd.facts("k8s.io", id).created
}
