#!/bin/sh
# Regenerates vmlinux.h, the kernel types the BPF programs are compiled
# against, from the running kernel's BTF. CO-RE relocates field accesses at
# load time, so this only needs redoing to use types or fields that are new.
set -eu
cd "$(dirname "$0")"
bpftool btf dump file /sys/kernel/btf/vmlinux format c > vmlinux.h.tmp
mv vmlinux.h.tmp vmlinux.h
