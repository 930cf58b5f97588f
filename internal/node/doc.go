// Package node names the node's paths as the agent sees them. On a host the
// node's / is the agent's own; in a Kubernetes pod the node's / is mounted
// at a host root (/host) and every file the agent reads on the node — /proc,
// the container runtimes' sockets, the node's /etc and binaries — is found
// below it. Root.Path is the one place that joins the two.
package node
