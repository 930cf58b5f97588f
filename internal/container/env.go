package container

import (
	"fmt"
	"net/url"
	"path"
)

// HostVariables are the environment variables the docker and podman
// command-line tools read for their API socket, in the order truesight
// lists the sockets they name. Both serve the Docker Engine API (podman's
// service answers it beside its own), so both name Docker API sockets.
var HostVariables = []string{"DOCKER_HOST", "CONTAINER_HOST"}

// SocketsFromEnvironment returns the Docker Engine API sockets that
// DOCKER_HOST and CONTAINER_HOST name (unix:///path), read through getenv,
// in HostVariables order and without duplicates; nil when neither is set.
// A value that is not an absolute unix socket address is an error that
// names the variable: truesight talks to runtimes only over local sockets.
func SocketsFromEnvironment(getenv func(string) string) ([]string, error) {
	var out []string
	for _, name := range HostVariables {
		v := getenv(name)
		if v == "" {
			continue
		}
		sock, err := unixSocket(v)
		if err != nil {
			return nil, fmt.Errorf("%s=%s: %w; set it to unix:///path/to/socket, or unset it and give --docker-socket", name, v, err)
		}
		dup := false
		for _, s := range out {
			dup = dup || s == sock
		}
		if !dup {
			out = append(out, sock)
		}
	}
	return out, nil
}

func unixSocket(v string) (string, error) {
	u, err := url.Parse(v)
	if err != nil {
		return "", fmt.Errorf("not a URL: %w", err)
	}
	if u.Scheme != "unix" {
		if u.Scheme == "" {
			return "", fmt.Errorf("no scheme; truesight reaches container runtimes only through unix:// sockets")
		}
		return "", fmt.Errorf("scheme %q is not supported; truesight reaches container runtimes only through unix:// sockets", u.Scheme)
	}
	// unix://host/path would put part of the path in Host; Docker and
	// podman write the socket path after three slashes.
	if u.Host != "" || !path.IsAbs(u.Path) || u.RawQuery != "" {
		return "", fmt.Errorf("want an absolute socket path after unix://, as in unix:///run/podman/podman.sock")
	}
	return path.Clean(u.Path), nil
}
