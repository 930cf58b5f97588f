package container

import (
	"slices"
	"testing"
)

func TestSocketsFromEnvironment(t *testing.T) {
	for _, tc := range []struct {
		name         string
		docker, cont string
		want         []string
		err          string
	}{
		{name: "neither set", want: nil},
		{name: "DOCKER_HOST", docker: "unix:///run/user/0/docker.sock", want: []string{"/run/user/0/docker.sock"}},
		{name: "CONTAINER_HOST", cont: "unix:///run/podman/podman.sock", want: []string{"/run/podman/podman.sock"}},
		{name: "both, DOCKER_HOST first", docker: "unix:///a.sock", cont: "unix:///b.sock", want: []string{"/a.sock", "/b.sock"}},
		{name: "the same socket once", docker: "unix:///a.sock", cont: "unix:///x/../a.sock", want: []string{"/a.sock"}},
		{name: "tcp refused", docker: "tcp://10.0.0.1:2375",
			err: `DOCKER_HOST=tcp://10.0.0.1:2375: scheme "tcp" is not supported; truesight reaches container runtimes only through unix:// sockets; set it to unix:///path/to/socket, or unset it and give --docker-socket`},
		{name: "ssh refused", cont: "ssh://core@host:22/run/podman/podman.sock",
			err: `CONTAINER_HOST=ssh://core@host:22/run/podman/podman.sock: scheme "ssh" is not supported; truesight reaches container runtimes only through unix:// sockets; set it to unix:///path/to/socket, or unset it and give --docker-socket`},
		{name: "bare path refused", docker: "/run/docker.sock",
			err: `DOCKER_HOST=/run/docker.sock: no scheme; truesight reaches container runtimes only through unix:// sockets; set it to unix:///path/to/socket, or unset it and give --docker-socket`},
		{name: "two slashes refused", docker: "unix://run/docker.sock",
			err: `DOCKER_HOST=unix://run/docker.sock: want an absolute socket path after unix://, as in unix:///run/podman/podman.sock; set it to unix:///path/to/socket, or unset it and give --docker-socket`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"DOCKER_HOST": tc.docker, "CONTAINER_HOST": tc.cont}
			got, err := SocketsFromEnvironment(func(k string) string { return env[k] })
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
