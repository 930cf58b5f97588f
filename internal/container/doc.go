// Package container maps a process's cgroup path to the container it runs
// in and holds what the container runtime says about that container: name,
// image, labels and the Kubernetes pod it belongs to.
package container
