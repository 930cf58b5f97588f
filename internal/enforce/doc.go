// Package enforce protects the dynamic loader's configuration
// (/etc/ld.so.preload, ld.so.conf, the loaders themselves) from writes.
// A fanotify permission mark on each protected root filesystem (every
// container's, optionally the host's) makes each open there wait for an
// answer decided from an in-memory Policy: an open for writing of a
// protected path is denied (mode enforce) or alerted (mode detect), a read
// is always allowed. What permission events cannot stop (rename, link,
// unlink onto a protected path) is undone: the process is killed and the
// file restored from the copy taken when protection started.
// docs/enforcement.md describes the model and its limits.
package enforce
