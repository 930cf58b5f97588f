package enforce

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"
)

// Intent is what an open asks for, read from the waiting thread.
type Intent uint8

// Intents.
const (
	IntentUnknown Intent = iota // the thread is not in a syscall we know
	IntentRead                  // read-only open, or the kernel opening a program or its loader for execve
	IntentWrite                 // write access, O_TRUNC or O_CREAT
)

func (i Intent) String() string {
	switch i {
	case IntentRead:
		return "read"
	case IntentWrite:
		return "write"
	}
	return "unknown"
}

// x86_64 and i386 numbers of the syscalls that open files.
const (
	sysOpen, sysOpenat, sysCreat, sysOpenat2 = 2, 257, 85, 437
	sysExecve, sysExecveat, sysUselib        = 59, 322, 134

	sys32Open, sys32Openat, sys32Creat, sys32Openat2 = 5, 295, 8, 437
	sys32Execve, sys32Execveat, sys32Uselib          = 11, 358, 86
)

// Syscall is a thread's syscall as /proc/<tid>/syscall shows it while the
// thread waits inside it: the number and the six arguments.
type Syscall struct {
	Nr   int64
	Args [6]uint64
}

// errNotInSyscall: the thread runs or is not inside a syscall.
var errNotInSyscall = errors.New("thread is not waiting in a syscall")

// ParseSyscall decodes /proc/<tid>/syscall: "nr a1 a2 a3 a4 a5 a6 sp pc"
// (numbers decimal, arguments hex), "-1 sp pc" outside a syscall, or
// "running".
func ParseSyscall(b []byte) (Syscall, error) {
	var sc Syscall
	field := func() ([]byte, bool) {
		for len(b) > 0 && (b[0] == ' ' || b[0] == '\n') {
			b = b[1:]
		}
		i := 0
		for i < len(b) && b[i] != ' ' && b[i] != '\n' {
			i++
		}
		f := b[:i]
		b = b[i:]
		return f, len(f) > 0
	}
	f, ok := field()
	if !ok {
		return sc, fmt.Errorf("syscall of a thread: empty")
	}
	if string(f) == "running" || string(f) == "-1" {
		return sc, errNotInSyscall
	}
	nr, err := strconv.ParseInt(string(f), 10, 32)
	if err != nil || nr < 0 {
		return sc, fmt.Errorf("syscall of a thread: number %q", f)
	}
	sc.Nr = nr
	for i := range sc.Args {
		f, ok := field()
		if !ok || len(f) < 3 || f[0] != '0' || f[1] != 'x' {
			return sc, fmt.Errorf("syscall of a thread: argument %d is %q, want a hex number", i+1, f)
		}
		v, err := strconv.ParseUint(string(f[2:]), 16, 64)
		if err != nil {
			return sc, fmt.Errorf("syscall of a thread: argument %d is %q", i+1, f)
		}
		sc.Args[i] = v
	}
	return sc, nil
}

// openFlags returns the open flags of sc, reading struct open_how of an
// openat2 with readHow; exec says the syscall opens a program to run it.
func (sc Syscall) openFlags(compat bool, readHow func(addr uint64) (uint64, error)) (flags uint64, exec bool, err error) {
	open, openat, creat, openat2 := int64(sysOpen), int64(sysOpenat), int64(sysCreat), int64(sysOpenat2)
	execve, execveat, uselib := int64(sysExecve), int64(sysExecveat), int64(sysUselib)
	if compat {
		open, openat, creat, openat2 = sys32Open, sys32Openat, sys32Creat, sys32Openat2
		execve, execveat, uselib = sys32Execve, sys32Execveat, sys32Uselib
	}
	switch sc.Nr {
	case open:
		return sc.Args[1], false, nil
	case openat:
		return sc.Args[2], false, nil
	case creat:
		return unix.O_CREAT | unix.O_WRONLY | unix.O_TRUNC, false, nil
	case openat2:
		f, err := readHow(sc.Args[2])
		return f, false, err
	case execve, execveat, uselib:
		return 0, true, nil
	}
	return 0, false, fmt.Errorf("syscall %d does not open files", sc.Nr)
}

// IntentOf classifies open flags: any write access, O_TRUNC (which
// truncates even a read-only open) or O_CREAT is a write.
func IntentOf(flags uint64) Intent {
	if flags&unix.O_ACCMODE != unix.O_RDONLY || flags&(unix.O_TRUNC|unix.O_CREAT) != 0 {
		return IntentWrite
	}
	return IntentRead
}

// threadIntent reads what the thread tid, waiting for a permission answer
// inside an open, asked for. buf is scratch space (at least 256 bytes).
func threadIntent(procRoot string, tid int32, buf []byte) (Intent, uint64, error) {
	name := procRoot + "/" + strconv.Itoa(int(tid)) + "/syscall"
	n, err := readSmall(name, buf)
	if err != nil {
		return IntentUnknown, 0, err
	}
	sc, err := ParseSyscall(buf[:n])
	if err != nil {
		return IntentUnknown, 0, err
	}
	// The x86_64 and i386 numbers of open-like syscalls do not collide with
	// each other's, except openat2 (437 in both): try x86_64 first.
	flags, exec, err := sc.openFlags(false, func(addr uint64) (uint64, error) { return readHow(procRoot, tid, addr) })
	if err != nil {
		var err32 error
		if flags, exec, err32 = sc.openFlags(true, func(uint64) (uint64, error) { return 0, err }); err32 != nil {
			return IntentUnknown, 0, err
		}
	}
	if exec {
		return IntentRead, 0, nil
	}
	return IntentOf(flags), flags, nil
}

// readHow reads the flags of the struct open_how an openat2 points to.
func readHow(procRoot string, tid int32, addr uint64) (uint64, error) {
	var b [8]byte
	local := []unix.Iovec{{Base: &b[0], Len: 8}}
	remote := []unix.RemoteIovec{{Base: uintptr(addr), Len: 8}}
	n, err := unix.ProcessVMReadv(int(tid), local, remote, 0)
	if err != nil || n != 8 {
		return 0, fmt.Errorf("read open_how of thread %d at %#x: %v", tid, addr, err)
	}
	_ = procRoot
	return binary.NativeEndian.Uint64(b[:]), nil
}

// readSmall reads a small /proc file into buf with one read.
func readSmall(name string, buf []byte) (int, error) {
	fd, err := unix.Open(name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", name, err)
	}
	defer func() { _ = unix.Close(fd) }()
	n, err := unix.Read(fd, buf)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", name, err)
	}
	return n, nil
}
