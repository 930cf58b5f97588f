package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/truesightsec/truesight/internal/config"
	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/testenv"
)

// runtimeOptions parses args as `truesight run` would and returns the
// container registry options from the configuration file text and flags.
func runtimeOptions(t *testing.T, yml string, args ...string) container.Options {
	t.Helper()
	var cfgf configFlags
	var rf runtimeFlags
	cmd := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error { return nil }}
	rf.register(cmd)
	cfgf.register(cmd)
	if yml != "" {
		path := t.TempDir() + "/truesight.yaml"
		if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-c", path)
	}
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(cmd, &cfgf, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rf.options(cmd, nil, cfg.Truesight.Containers)
}

func TestRuntimeSocketsFromConfigAndFlags(t *testing.T) {
	// The embedded default lists what the container package tries (nil:
	// its defaults, which it does not warn about when they are missing).
	var dflt config.Containers
	if cfg, _, err := config.Load("", nil); err != nil {
		t.Fatal(err)
	} else {
		dflt = cfg.Truesight.Containers
	}
	if !slices.Equal(dflt.DockerSockets, container.DefaultDockerSockets) || !slices.Equal(dflt.ContainerdSockets, container.DefaultContainerdSockets) ||
		!slices.Equal(dflt.CRISockets, container.DefaultCRISockets) {
		t.Errorf("embedded default %+v differs from the container package's", dflt)
	}
	o := runtimeOptions(t, "")
	if o.Docker != nil || o.Containerd != nil || o.CRI != nil || o.HostRoot != "" || o.Timeout != 5*time.Second {
		t.Errorf("default: %+v", o)
	}

	file := `truesight:
  containers:
    host_root: /host
    docker_sockets: [/run/user/0/podman/podman.sock]
    containerd_sockets: []
    timeout: 2s
`
	o = runtimeOptions(t, file)
	if o.HostRoot != "/host" || !slices.Equal(o.Docker, []string{"/run/user/0/podman/podman.sock"}) ||
		o.Containerd == nil || len(o.Containerd) != 0 || o.CRI != nil || o.Timeout != 2*time.Second {
		t.Errorf("from the file: %+v", o)
	}

	// Flags win over the file; an empty flag turns the runtime off.
	o = runtimeOptions(t, file, "--host-root", "/node", "--cri-socket", "", "--containerd-socket", "/c.sock", "--runtime-timeout", "1s")
	if o.HostRoot != "/node" || len(o.CRI) != 0 || o.CRI == nil || !slices.Equal(o.Containerd, []string{"/c.sock"}) ||
		!slices.Equal(o.Docker, []string{"/run/user/0/podman/podman.sock"}) || o.Timeout != time.Second {
		t.Errorf("flags over the file: %+v", o)
	}
}

// `truesight containers` finds a podman container through a socket named
// only in the configuration file.
func TestContainersCommandReadsSocketsFromConfig(t *testing.T) {
	testenv.RequireRoot(t)
	sock := testenv.PodmanService(t)
	name := "ts-cli-containers"
	id := testenv.StartContainer(t, name, nil, "sleep", "60")
	path := filepath.Join(t.TempDir(), "truesight.yaml")
	cfg := "truesight:\n  containers:\n    docker_sockets: [" + sock + "]\n    containerd_sockets: []\n    cri_sockets: []\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"containers", "-c", path, "--json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var rows []containerRow
	if err := json.Unmarshal(stdout.Bytes(), &rows); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	for _, r := range rows {
		if r.FullID == id {
			if r.Name != name || r.Runtime != "podman" || r.Source != "docker:"+sock || r.Processes < 1 || !strings.Contains(r.Image, testenv.Image) {
				t.Errorf("row %+v", r)
			}
			return
		}
	}
	t.Fatalf("container %s not listed: %s\nstderr: %s", id, stdout.String(), stderr.String())
}
