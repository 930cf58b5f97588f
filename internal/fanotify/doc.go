// Package fanotify is a thin wrapper over the kernel's fanotify interface
// (golang.org/x/sys/unix): create a group, mark filesystems, mounts or
// inodes, decode the event metadata and its information records without
// allocating, and answer permission events (allow or deny).
//
// It knows nothing about policies or containers; internal/enforce decides
// what to answer and internal/fim what a change means.
package fanotify
