package posture

import (
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// lsmNames are the LSM ids of the kernel's uapi (linux/lsm.h), from 100.
var lsmNames = []string{"capability", "selinux", "smack", "tomoyo", "apparmor", "yama", "loadpin", "safesetid", "lockdown", "bpf", "landlock", "ima", "evm", "ipe"}

func lsmName(id uint64) string {
	if id >= 100 && id-100 < uint64(len(lsmNames)) {
		return lsmNames[id-100]
	}
	return "lsm" + strconv.FormatUint(id, 10)
}

// listLSMs asks the kernel which LSMs are active (lsm_list_modules,
// Linux 6.8+). It answers without securityfs, which nodes often leave
// unmounted; older kernels return ENOSYS.
func listLSMs() ([]uint64, error) {
	ids := make([]uint64, 64)
	size := uint32(len(ids) * 8)
	n, _, errno := unix.Syscall(unix.SYS_LSM_LIST_MODULES, uintptr(unsafe.Pointer(&ids[0])), uintptr(unsafe.Pointer(&size)), 0)
	if errno != 0 {
		return nil, errno
	}
	return ids[:min(int(n), len(ids))], nil
}
