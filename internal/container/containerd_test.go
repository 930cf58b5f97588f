package container_test

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/testenv"
)

// ctrFacts are what ctr itself says about a container, to compare against.
type ctrFacts struct {
	created int64
	pid     int64
}

func (c *containerd) facts(ns, id string) ctrFacts {
	c.t.Helper()
	var info struct{ CreatedAt string }
	if err := json.Unmarshal([]byte(c.ctr(ns, "containers", "info", id)), &info); err != nil {
		c.t.Fatal(err)
	}
	f := ctrFacts{created: rfc3339(c.t, info.CreatedAt)}
	for _, line := range strings.Split(c.ctr(ns, "tasks", "ls"), "\n") {
		if fs := strings.Fields(line); len(fs) >= 2 && fs[0] == id {
			f.pid, _ = strconv.ParseInt(fs[1], 10, 64)
		}
	}
	return f
}

// imageDigests returns the manifest digest ctr lists for the test image.
func (c *containerd) manifestDigest(ns string) string {
	c.t.Helper()
	for _, line := range strings.Split(c.ctr(ns, "images", "ls"), "\n") {
		if fs := strings.Fields(line); len(fs) >= 3 && fs[0] == testenv.Image {
			return fs[2]
		}
	}
	c.t.Fatalf("%s not in ctr images ls", testenv.Image)
	return ""
}

func TestContainerdClientDescribesCtrContainers(t *testing.T) {
	ctd := startContainerd(t, "", "default")
	reg, warns := runRegistry(t, container.Options{Containerd: []string{ctd.sock}})

	plain, hostile := randomID(t), randomID(t)
	ctd.run("default", plain, []string{"--label", "app=ctr", "--label", "team=sec"}, "sleep", "1000")
	ctd.run("default", hostile, []string{"--privileged", "--net-host", "--read-only"}, "sleep", "1000")

	imageID := testenv.Podman(t, "image", "inspect", "--format", "{{.Id}}", testenv.Image)
	digest := ctd.manifestDigest("default")
	base := container.Info{
		Type: "containerd", Image: testenv.Image, ImageID: imageID,
		ImageRepository: "localhost/truesight-test-bb", ImageTag: "latest", ImageDigest: digest,
		User: "0", Runtime: "containerd:" + ctd.sock,
	}

	f := ctd.facts("default", plain)
	want := base
	want.ID, want.FullID, want.Name = plain[:12], plain, plain[:12]
	want.StartTs, want.Pid = f.created, f.pid
	want.Labels = map[string]string{"app": "ctr", "team": "sec", "io.containerd.image.config.stop-signal": "SIGTERM"}
	got := waitInfo(t, reg, plain, func(i *container.Info) bool { return i.Pid != 0 })
	if !reflect.DeepEqual(got, &want) {
		t.Errorf("plain container:\n got %+v\nwant %+v", got, &want)
	}

	f = ctd.facts("default", hostile)
	want = base
	want.ID, want.FullID, want.Name = hostile[:12], hostile, hostile[:12]
	want.StartTs, want.Pid = f.created, f.pid
	want.Labels = map[string]string{"io.containerd.image.config.stop-signal": "SIGTERM"}
	want.Privileged, want.HostNetwork, want.ReadOnlyRoot = true, true, true
	got = waitInfo(t, reg, hostile, func(i *container.Info) bool { return i.Pid != 0 })
	if !reflect.DeepEqual(got, &want) {
		t.Errorf("privileged host-network container:\n got %+v\nwant %+v", got, &want)
	}

	// The task's exit reaches the cache through the event stream.
	ctd.ctr("default", "task", "kill", "-s", "KILL", plain)
	deadline := time.Now().Add(5 * time.Second)
	for !reg.Exited(plain) {
		if time.Now().After(deadline) {
			t.Fatal("task exit not seen through containerd's events")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if w := warns.list("WARN"); len(w) != 0 {
		t.Errorf("unexpected warnings: %q", w)
	}
}

func TestContainerdKilledMidRunWarnsOnceAndReconnects(t *testing.T) {
	ctd := startContainerd(t, "", "default")
	reg, warns := runRegistry(t, container.Options{Containerd: []string{ctd.sock}, MaxBackoff: 400 * time.Millisecond})
	id := randomID(t)
	ctd.run("default", id, nil, "sleep", "1000")
	waitInfo(t, reg, id, func(i *container.Info) bool { return i.Pid != 0 })

	ctd.kill()
	other := randomID(t)
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if i := lookupFast(t, reg, id); i == nil {
			t.Fatal("known container lost while containerd is down")
		}
		if i := lookupFast(t, reg, other); i != nil {
			t.Fatalf("metadata from a dead daemon: %+v", i)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if w := warns.list("WARN"); len(w) != 1 || !strings.Contains(w[0], ctd.sock) {
		t.Fatalf("want one warning naming %s, got %q", ctd.sock, w)
	}

	ctd.start()
	ctd.run("default", other, nil, "sleep", "1000")
	if got := waitInfo(t, reg, other, func(i *container.Info) bool { return i.Pid != 0 }); got.Name != other[:12] {
		t.Errorf("after reconnection: %+v", got)
	}
	if w := warns.list("WARN"); len(w) != 1 {
		t.Errorf("warnings: %q", w)
	}
}
