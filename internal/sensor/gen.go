package sensor

// The BPF object and its Go bindings are generated and committed, so that
// `go build` needs no clang. Regenerate after editing bpf/*.c or bpf/*.h:
//
//	go generate ./internal/sensor/...
//
// which needs clang and llvm-strip (Debian: clang llvm), the libbpf headers
// (libbpf-dev) and the kernel's uapi headers (linux-libc-dev, for the
// syscall table). The output does not depend on the checkout's location.
//
// bpf/vmlinux.h is regenerated separately (see bpf/vmlinux.sh): it changes
// only when we want CO-RE to know about newer kernel types.

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -D__TARGET_ARCH_x86" -target amd64 -no-global-types -type rec_hdr -type task_ids -type sc_rec -type fld -type file_info -type sock_info -type fd_pair -type cap_info -type proc_info -type proc_rec -type fork_rec -type exit_rec -type sc_spec -type stats sensorBPF bpf/sensor.bpf.c -- -I./bpf
//go:generate go run ./internal/gensyscalls -o syscalls_table.go
