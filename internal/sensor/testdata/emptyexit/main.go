// Command emptyexit attaches a BPF program that does nothing to the
// sys_exit tracepoint (tp_btf, the sensor's attach point) and runs a
// command under it: scripts/bench-live.sh uses it to price the attach
// point alone, the floor of the sensor's cost on an untraced syscall.
//
//	emptyexit loadgen getppid 10000000
package main

import (
	"fmt"
	"os"
	"os/exec"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: emptyexit COMMAND [ARG]...")
		os.Exit(2)
	}
	os.Exit(run(os.Args[1:]))
}

func run(argv []string) int {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.Tracing,
		AttachType:   ebpf.AttachTraceRawTp,
		AttachTo:     "sys_exit",
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "emptyexit: load:", err)
		return 1
	}
	defer prog.Close()
	l, err := link.AttachTracing(link.TracingOptions{Program: prog})
	if err != nil {
		fmt.Fprintln(os.Stderr, "emptyexit: attach:", err)
		return 1
	}
	defer l.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "emptyexit:", err)
		return 1
	}
	return 0
}
