package capture

import (
	"net/netip"
)

// KernelOpenFlags converts Linux O_* open flags to the capture's PPM_O_*
// encoding; it is OpenFlagsToKernel's inverse.
func KernelOpenFlags(k uint32) uint32 {
	var f uint32
	switch k & 3 {
	case 0:
		f |= ppmORdonly
	case oWronly:
		f |= ppmOWronly
	case oRdwr:
		f |= ppmORdwr
	}
	pairs := [...][2]uint32{
		{ppmOCreat, oCreat}, {ppmOExcl, oExcl}, {ppmOTrunc, oTrunc}, {ppmOAppend, oAppend},
		{ppmONonblock, oNonblock}, {ppmODirect, oDirect}, {ppmOLargefile, oLargefile},
		{ppmODirectory, oDirectory}, {ppmOCloexec, oCloexec},
	}
	for _, p := range pairs {
		if k&p[1] == p[1] {
			f |= p[0]
		}
	}
	switch {
	case k&oTmpfile == oTmpfile:
		f |= ppmOTmpfile
		f &^= ppmODirectory
	case k&oSync == oSync:
		f |= ppmOSync
	case k&oDsync == oDsync:
		f |= ppmODsync
	}
	return f
}

// Linux clone flags and their PPM_CL_* counterparts.
var cloneFlagPairs = [...][2]uint64{
	{0x400, 1 << 0},      // CLONE_FILES
	{0x200, 1 << 1},      // CLONE_FS
	{0x80000000, 1 << 2}, // CLONE_IO
	{0x8000000, 1 << 3},  // CLONE_NEWIPC
	{0x40000000, 1 << 4}, // CLONE_NEWNET
	{0x20000, 1 << 5},    // CLONE_NEWNS
	{0x20000000, 1 << 6}, // CLONE_NEWPID
	{0x4000000, 1 << 7},  // CLONE_NEWUTS
	{0x8000, 1 << 8},     // CLONE_PARENT
	{0x100000, 1 << 9},   // CLONE_PARENT_SETTID
	{0x2000, 1 << 10},    // CLONE_PTRACE
	{0x800, 1 << 11},     // CLONE_SIGHAND
	{0x40000, 1 << 12},   // CLONE_SYSVSEM
	{0x10000, ppmCloneThread},
	{0x800000, 1 << 14},   // CLONE_UNTRACED
	{0x100, 1 << 15},      // CLONE_VM
	{0x10000000, 1 << 20}, // CLONE_NEWUSER
	{0x200000, 1 << 23},   // CLONE_CHILD_CLEARTID
	{0x1000000, 1 << 24},  // CLONE_CHILD_SETTID
	{0x80000, 1 << 25},    // CLONE_SETTLS
	{0x4000, 1 << 27},     // CLONE_VFORK
	{0x2000000, 1 << 28},  // CLONE_NEWCGROUP
}

// CloneFlagsToKernel converts the capture's PPM_CL_* clone flags to Linux
// CLONE_* flags; it is KernelCloneFlags's inverse for the flags both have.
func CloneFlagsToKernel(f uint32) uint64 {
	var k uint64
	for _, p := range cloneFlagPairs {
		if uint64(f)&p[1] != 0 {
			k |= p[0]
		}
	}
	return k
}

// KernelCloneFlags converts Linux CLONE_* flags to the capture's PPM_CL_*
// encoding.
func KernelCloneFlags(k uint64) uint32 {
	var f uint64
	for _, p := range cloneFlagPairs {
		if k&p[0] != 0 {
			f |= p[1]
		}
	}
	return uint32(f)
}

func append4(b []byte, a netip.Addr) []byte {
	if a.Is4() || a.Is4In6() {
		s := a.Unmap().As4()
		return append(b, s[:]...)
	}
	return append(b, 0, 0, 0, 0)
}

func append16(b []byte, a netip.Addr) []byte {
	if !a.IsValid() {
		return append(b, make([]byte, 16)...)
	}
	s := a.As16()
	return append(b, s[:]...)
}
