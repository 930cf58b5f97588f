// Package state owns truesight's picture of the processes on the machine:
// the process tree, each process's fd table, namespaces, root and
// container. It is seeded from the kernel at start and kept current by
// fork, exec and exit events.
package state
