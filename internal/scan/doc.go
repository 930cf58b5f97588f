// Package scan reveals what a compromised userland hides: processes that
// ps and top do not show, and the preload libraries that hide them.
//
// A Scanner compares independent views of the process list (the kernel's
// task iterator, the /proc directory read with getdents64, direct probes of
// every PID up to pid_max, and the listing each container's own libc tools
// get) and sweeps every distinct root filesystem, every environment and
// every executable mapping for preload injection. Each confirmed finding is
// an event of source truesight, so the ordinary rules and outputs turn it
// into an alert.
package scan
