package testenv

import (
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// PrivateTmpfs locks the test goroutine to its thread, gives that thread a
// private mount namespace and mounts a tmpfs on a temporary directory
// there, which it returns. fanotify permission marks in tests go on such a
// tmpfs, never on a host filesystem. Children started by the test inherit
// the namespace; other goroutines reach the tmpfs through
// /proc/<tid>/root/<dir> of this thread (unix.Gettid). The thread is
// discarded when the test ends (it is never unlocked).
func PrivateTmpfs(t testing.TB) string {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "needs root for a private mount namespace")
	}
	dir := t.TempDir()
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		t.Fatalf("unshare mount namespace: %v", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		t.Fatalf("make mounts private: %v", err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=4m"); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}
