package capture

// The capture format encodes some numbers of the kernel's ABI in values
// of its own (PPM_*). These convert the kernel's values, as the live
// sensor reads them, into the format's; values without an equivalent
// become the format's "unknown" (0).

// KernelFcntlCmd converts an fcntl F_* command.
func KernelFcntlCmd(cmd uint64) uint64 { return fcntlKernel[cmd] }

var fcntlKernel = map[uint64]uint64{
	0: 1, 1: 2, 2: 3, 3: 4, 4: 5, 5: 6, 6: 8, 7: 9, 8: 10, 9: 12, 10: 13, 11: 15, 15: 21, 16: 22,
	36: 30, 37: 31, 38: 32, 1024: 23, 1025: 24, 1026: 27, 1029: 25, 1030: 26, 1031: 28, 1032: 29,
}

// KernelPtraceRequest converts a ptrace PTRACE_* request.
func KernelPtraceRequest(req uint64) uint64 { return ptraceKernel[req] }

var ptraceKernel = map[uint64]uint64{
	0: 1, 1: 2, 2: 3, 3: 4, 4: 5, 5: 6, 6: 7, 7: 8, 8: 9, 9: 10,
	12: 26, 13: 27, 14: 28, 15: 29, 16: 11, 17: 12, 18: 30, 19: 31, 24: 13,
	25: 33, 26: 34, 30: 35, 31: 36, 32: 37, 33: 38,
	0x4200: 14, 0x4201: 15, 0x4202: 16, 0x4203: 17, 0x4204: 18, 0x4205: 19,
	0x4206: 20, 0x4207: 21, 0x4208: 22, 0x4209: 23, 0x420a: 24, 0x420b: 25,
}

// KernelMmapFlags converts mmap MAP_* flags.
func KernelMmapFlags(k uint64) uint64 {
	var f uint64
	for _, p := range mmapKernel {
		if k&p[0] != 0 {
			f |= p[1]
		}
	}
	return f
}

var mmapKernel = [...][2]uint64{
	{0x1, 1 << 0}, {0x2, 1 << 1}, {0x10, 1 << 2}, {0x20, 1 << 3}, {0x40, 1 << 4}, {0x4000, 1 << 6},
	{0x8000, 1 << 7}, {0x10000, 1 << 8}, {0x100, 1 << 9}, {0x800, 1 << 10}, {0x1000, 1 << 11}, {0x2000, 1 << 14},
}
