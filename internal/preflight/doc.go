// Package preflight checks what the agent needs on this node before it
// starts: the kernel and its BTF, each Linux capability of the chosen tier,
// the bpf() system call (which a container's seccomp profile may refuse),
// the node's /proc in the node's PID namespace, the container runtimes'
// sockets, fanotify and pid_max. Each check says ok, missing or warning,
// and what to do; `truesight preflight` prints them, the Helm chart runs it
// as an init container, and the agent refuses to start with the same lines
// when a required check is missing.
package preflight
