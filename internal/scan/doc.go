// Package scan reveals what a compromised userland hides: processes that
// ps and top do not show, and the preload libraries that hide them.
//
// A Scanner compares independent views of the process list (the kernel's
// task iterator, the /proc directory read with getdents64, direct probes of
// every PID up to pid_max, and the listing each container's own libc tools
// get) and sweeps every distinct root filesystem, every environment and
// every executable mapping for preload injection. Each confirmed finding is
// an event of source truesight, so the ordinary rules and outputs turn it
// into an alert; a finding always names a live process by its host PID.
//
// A mapping is judged by the identity of the file mapped (device, inode,
// sha256), never by its name: the host's C runtime files and container
// runtime binaries are known in every root, a root's own C runtime files
// for its own processes. A process whose executable is the host's runc,
// crun, conmon, catatonit or containerd shim is the container runtime,
// wherever it sits (runc's init maps the host's libc from inside the new
// container's mount namespace).
package scan
