package container

import (
	"os"
	"path/filepath"
	"strconv"
)

// The inode numbers the kernel gives its initial (host) PID and IPC
// namespaces (PROC_PID_INIT_INO, PROC_IPC_INIT_INO in
// include/linux/proc_ns.h): fixed, so a process's namespace can be
// recognised as the host's without comparing against another process.
const (
	hostPIDNSInode = "pid:[4026531836]"
	hostIPCNSInode = "ipc:[4026531839]"
)

// checkNamespaces corrects host_pid and host_ipc from what the kernel says
// about the container's init process: runtimes can misreport them (podman
// 4.3 reports --ipc=host as "shareable"). It only ever turns them on.
func checkNamespaces(i *Info, procRoot string) {
	if i.Pid <= 0 {
		return
	}
	dir := filepath.Join(procRoot, strconv.FormatInt(i.Pid, 10), "ns")
	if l, err := os.Readlink(filepath.Join(dir, "pid")); err == nil && l == hostPIDNSInode {
		i.HostPID = true
	}
	if l, err := os.Readlink(filepath.Join(dir, "ipc")); err == nil && l == hostIPCNSInode {
		i.HostIPC = true
	}
}
