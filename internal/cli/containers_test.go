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
	o, err := rf.options(cmd, nil, cfg.Truesight.Containers)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestRuntimeSocketsFromConfigAndFlags(t *testing.T) {
	unsetHostVariables(t)
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
	unsetHostVariables(t)
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

// DOCKER_HOST and CONTAINER_HOST name the Docker API sockets when neither
// --docker-socket nor a docker_sockets key of its own does.
func TestRuntimeSocketsFromEnvironment(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///run/user/0/docker.sock")
	t.Setenv("CONTAINER_HOST", "unix:///run/user/0/podman/podman.sock")
	env := []string{"/run/user/0/docker.sock", "/run/user/0/podman/podman.sock"}
	for _, tc := range []struct {
		name string
		yml  string
		args []string
		want []string
	}{
		{name: "environment over the default", want: env},
		{name: "the default key in a file is still the default", yml: "truesight:\n  containers:\n    docker_sockets: [/run/docker.sock, /run/podman/podman.sock]\n", want: env},
		{name: "a key of its own over the environment", yml: "truesight:\n  containers:\n    docker_sockets: [/k.sock]\n", want: []string{"/k.sock"}},
		{name: "an empty key turns the API off", yml: "truesight:\n  containers:\n    docker_sockets: []\n", want: []string{}},
		{name: "the flag over the environment", args: []string{"--docker-socket", "/f.sock"}, want: []string{"/f.sock"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := runtimeOptions(t, tc.yml, tc.args...)
			if !slices.Equal(o.Docker, tc.want) || o.Docker == nil || o.Containerd != nil || o.CRI != nil {
				t.Errorf("Docker %q Containerd %q CRI %q, want Docker %q", o.Docker, o.Containerd, o.CRI, tc.want)
			}
		})
	}
}

// A DOCKER_HOST that names no unix socket stops every subcommand that
// talks to runtimes, with the variable's name, before anything runs.
func TestRuntimeSocketEnvironmentRefusesOtherSchemes(t *testing.T) {
	t.Setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")
	for _, sub := range [][]string{{"containers"}, {"scan"}, {"run", "--duration", "1s"}} {
		t.Run(sub[0], func(t *testing.T) {
			if sub[0] != "containers" {
				testenv.RequireRoot(t)
			}
			var stdout, stderr bytes.Buffer
			code := Main(sub, &stdout, &stderr)
			want := `DOCKER_HOST=tcp://127.0.0.1:2375: scheme "tcp" is not supported`
			if code != 2 || !strings.Contains(stderr.String(), want) {
				t.Errorf("exit %d, stderr %q; want exit 2 and %q", code, stderr.String(), want)
			}
		})
	}
	// An explicit flag wins: the variable is not read at all.
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"containers", "--docker-socket=", "--containerd-socket=", "--cri-socket=", "--wait", "0s", "--proc", t.TempDir()}, &stdout, &stderr); code != 0 {
		t.Errorf("with --docker-socket: exit %d: %s", code, stderr.String())
	}
}

// `truesight containers` finds a podman container through podman's API
// served at a socket that only DOCKER_HOST names, and likewise through
// CONTAINER_HOST.
func TestContainersCommandReadsSocketFromEnvironment(t *testing.T) {
	testenv.RequireRoot(t)
	sock := testenv.PodmanService(t)
	name := "ts-cli-containers-env"
	id := testenv.StartContainer(t, name, nil, "sleep", "60")
	for _, variable := range container.HostVariables {
		t.Run(variable, func(t *testing.T) {
			unsetHostVariables(t)
			t.Setenv(variable, "unix://"+sock)
			var stdout, stderr bytes.Buffer
			if code := Main([]string{"containers", "--json", "--containerd-socket=", "--cri-socket="}, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			if want := "runtime docker " + sock + ": connected, podman"; !strings.Contains(stderr.String(), want) {
				t.Errorf("stderr %q lacks %q", stderr.String(), want)
			}
			var rows []containerRow
			if err := json.Unmarshal(stdout.Bytes(), &rows); err != nil {
				t.Fatalf("%v: %s", err, stdout.String())
			}
			for _, r := range rows {
				if r.FullID == id {
					if r.Name != name || r.Runtime != "podman" || r.Source != "docker:"+sock {
						t.Errorf("row %+v", r)
					}
					return
				}
			}
			t.Fatalf("container %s not listed: %s\nstderr: %s", id, stdout.String(), stderr.String())
		})
	}
}

// unsetHostVariables unsets DOCKER_HOST and CONTAINER_HOST for the test
// (set but empty is not the same to podman, which the test helpers run).
func unsetHostVariables(t *testing.T) {
	t.Helper()
	for _, v := range container.HostVariables {
		t.Setenv(v, "")
		if err := os.Unsetenv(v); err != nil {
			t.Fatal(err)
		}
	}
}
