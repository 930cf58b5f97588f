package capture

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
)

// WriterOptions tune a Writer.
type WriterOptions struct {
	// Compress writes the capture gzip-compressed, as `sysdig -z -w` does.
	Compress bool
	// ExitOnly makes WriteBuilt write exit events alone, without the enter
	// halves readers of the old layout need.
	ExitOnly bool
}

// Writer writes a capture in the scap format: a section header, then
// blocks. Tables are written as raw blocks (WriteBlock); events in the
// current event layout (EVF version 2, with parameter counts and flags).
type Writer struct {
	opts  WriterOptions
	out   io.Writer
	bw    *bufio.Writer
	gz    *gzip.Writer
	buf   []byte
	enter Event // the enter half WriteBuilt makes
	err   error
	Count uint64 // event blocks written
}

// NewWriter starts a capture on w and writes its section header.
func NewWriter(w io.Writer, opts WriterOptions) (*Writer, error) {
	wr := &Writer{out: w, opts: opts}
	dst := w
	if opts.Compress {
		wr.gz = gzip.NewWriter(w)
		dst = wr.gz
	}
	wr.bw = bufio.NewWriterSize(dst, 1<<20)
	var sh [16]byte
	binary.LittleEndian.PutUint32(sh[0:], sectionMagic)
	binary.LittleEndian.PutUint16(sh[4:], supportedMajor)
	binary.LittleEndian.PutUint16(sh[6:], 2)
	binary.LittleEndian.PutUint64(sh[8:], ^uint64(0)) // length not given
	if err := wr.WriteBlock(blockSection, sh[:]); err != nil {
		return nil, err
	}
	return wr, nil
}

// WriteBlock frames body as a block of the given type: header, body,
// padding to 4 bytes, trailing length.
func (w *Writer) WriteBlock(typ uint32, body []byte) error {
	if w.err != nil {
		return w.err
	}
	pad := (4 - len(body)%4) % 4
	total := blockFramesLen + len(body) + pad
	if total > 1<<31 {
		return fmt.Errorf("capture: block of %d bytes is too large", len(body))
	}
	var h [blockHeaderLen]byte
	binary.LittleEndian.PutUint32(h[0:], typ)
	binary.LittleEndian.PutUint32(h[4:], uint32(total))
	// bufio.Writer keeps its first error and returns it on every later
	// write, so the last write's error covers them all.
	_, _ = w.bw.Write(h[:])
	_, _ = w.bw.Write(body)
	var zero [4]byte
	_, _ = w.bw.Write(zero[:pad])
	binary.LittleEndian.PutUint32(h[0:], uint32(total))
	_, w.err = w.bw.Write(h[:4])
	return w.err
}

// WriteEvent writes an event block with the given parameters, each already
// encoded. Time is nanoseconds since the epoch.
func (w *Writer) WriteEvent(cpu uint16, flags uint32, time int64, tid int64, code uint16, params [][]byte) error {
	info := Info(code)
	if info == nil {
		return fmt.Errorf("capture: unknown event code %d", code)
	}
	if len(params) > maxEventParams {
		return fmt.Errorf("capture: %s: %d parameters, at most %d", info.Const, len(params), maxEventParams)
	}
	lenSize := 2
	if info.LargePayload() {
		lenSize = 4
	}
	evLen := evtHeaderV2 + len(params)*lenSize
	for _, p := range params {
		if lenSize == 2 && len(p) > 0xffff {
			return fmt.Errorf("capture: %s: parameter of %d bytes exceeds 64 KiB", info.Const, len(p))
		}
		evLen += len(p)
	}
	typ := uint32(blockEventFlagsV2)
	if evLen+6+blockFramesLen > maxSmallEvent {
		if !info.LargePayload() {
			return fmt.Errorf("capture: %s: event of %d bytes exceeds 64 KiB", info.Const, evLen)
		}
		typ = blockEventFlagsV2Large
	}
	b := w.buf[:0]
	b = binary.LittleEndian.AppendUint16(b, cpu)
	b = binary.LittleEndian.AppendUint32(b, flags)
	b = binary.LittleEndian.AppendUint64(b, uint64(time))
	b = binary.LittleEndian.AppendUint64(b, uint64(tid))
	b = binary.LittleEndian.AppendUint32(b, uint32(evLen))
	b = binary.LittleEndian.AppendUint16(b, code)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(params)))
	for _, p := range params {
		if lenSize == 2 {
			b = binary.LittleEndian.AppendUint16(b, uint16(len(p)))
		} else {
			b = binary.LittleEndian.AppendUint32(b, uint32(len(p)))
		}
	}
	for _, p := range params {
		b = append(b, p...)
	}
	w.buf = b
	if err := w.WriteBlock(typ, b); err != nil {
		return err
	}
	w.Count++
	return nil
}

// CopyEvent writes an event read from a capture, in the current layout,
// at a new time.
func (w *Writer) CopyEvent(ev *Event, time int64) error {
	var params [maxEventParams][]byte
	for i := 0; i < ev.NParams; i++ {
		params[i] = ev.Param(i)
	}
	return w.WriteEvent(ev.CPU, ev.Flags, time, ev.Tid, ev.Code, params[:ev.NParams])
}

// Close flushes the capture. It does not close the underlying writer.
func (w *Writer) Close() error {
	err := w.bw.Flush()
	if w.gz != nil {
		err = errors.Join(err, w.gz.Close())
	}
	return errors.Join(w.err, err)
}

// WriteMachine writes the machine information block.
func (w *Writer) WriteMachine(m MachineInfo) error {
	b := binary.LittleEndian.AppendUint32(nil, m.NumCPUs)
	b = binary.LittleEndian.AppendUint64(b, m.MemoryBytes)
	b = binary.LittleEndian.AppendUint64(b, m.MaxPid)
	var host [128]byte
	copy(host[:127], m.Hostname)
	b = append(b, host[:]...)
	b = append(b, make([]byte, 32)...) // reserved
	return w.WriteBlock(blockMachine, b)
}

// WriteThreads writes a process list block (the current version, with a
// length per entry) and one fd list block for each thread with fds.
func (w *Writer) WriteThreads(threads []*ThreadInfo) error {
	var b []byte
	for _, t := range threads {
		start := len(b)
		b = append(b, 0, 0, 0, 0) // entry length, set below
		b = appendI64(b, t.Tid, t.Pid, t.PTid, t.Sid, t.VPgid)
		b = appendStr16(b, t.Comm)
		b = appendStr16(b, t.Exe)
		b = appendStr16(b, t.ExePath)
		b = appendList16(b, t.Args)
		b = appendStr16(b, t.Cwd)
		b = binary.LittleEndian.AppendUint64(b, t.FDLimit)
		for _, v := range [...]uint32{t.Flags, t.UID, t.GID, t.VMSizeKB, t.VMRSSKB, t.VMSwapKB} {
			b = binary.LittleEndian.AppendUint32(b, v)
		}
		b = binary.LittleEndian.AppendUint64(b, t.PFMajor)
		b = binary.LittleEndian.AppendUint64(b, t.PFMinor)
		b = appendList16(b, t.Env)
		b = appendI64(b, t.VTid, t.VPid)
		b = appendList16(b, t.Cgroups)
		b = appendStr16(b, t.Root)
		b = binary.LittleEndian.AppendUint64(b, t.PidNSInitStart)
		b = binary.LittleEndian.AppendUint32(b, t.TTY)
		b = binary.LittleEndian.AppendUint32(b, t.LoginUID)
		b = append(b, boolByte(t.ExeWritable))
		b = binary.LittleEndian.AppendUint64(b, t.CapInheritable)
		b = binary.LittleEndian.AppendUint64(b, t.CapPermitted)
		b = binary.LittleEndian.AppendUint64(b, t.CapEffective)
		b = append(b, boolByte(t.ExeUpperLayer))
		b = binary.LittleEndian.AppendUint64(b, t.ExeIno)
		b = binary.LittleEndian.AppendUint64(b, t.ExeCtime)
		b = binary.LittleEndian.AppendUint64(b, t.ExeMtime)
		b = append(b, boolByte(t.ExeFromMemfd))
		binary.LittleEndian.PutUint32(b[start:], uint32(len(b)-start))
	}
	if err := w.WriteBlock(blockProcV9, b); err != nil {
		return err
	}
	for _, t := range threads {
		if len(t.FDs) == 0 {
			continue
		}
		if err := w.WriteBlock(blockFDV2, appendFDs(nil, t.Tid, t.FDs)); err != nil {
			return err
		}
	}
	return nil
}

func appendFDs(b []byte, tid int64, fds []FDInfo) []byte {
	b = appendI64(b, tid)
	for _, f := range fds {
		start := len(b)
		b = append(b, 0, 0, 0, 0)
		b = appendI64(b, f.Num)
		b = binary.LittleEndian.AppendUint64(b, f.Ino)
		typ := f.Type
		if typ == FDFile {
			typ = FDFileV2
		}
		b = append(b, byte(typ))
		switch typ {
		case FDIPv4Sock, FDIPv6Sock:
			b = appendAddr(b, f.Src, typ == FDIPv6Sock)
			b = appendAddr(b, f.Dst, typ == FDIPv6Sock)
			b = binary.LittleEndian.AppendUint16(b, f.SrcPort)
			b = binary.LittleEndian.AppendUint16(b, f.DstPort)
			b = append(b, f.L4)
		case FDIPv4Server, FDIPv6Server:
			b = appendAddr(b, f.Src, typ == FDIPv6Server)
			b = binary.LittleEndian.AppendUint16(b, f.SrcPort)
			b = append(b, f.L4)
		case FDUnixSock:
			b = binary.LittleEndian.AppendUint64(b, f.UnixSrc)
			b = binary.LittleEndian.AppendUint64(b, f.UnixDst)
			b = appendStr16(b, f.Name)
		case FDFileV2:
			b = binary.LittleEndian.AppendUint32(b, f.OpenFlags)
			b = appendStr16(b, f.Name)
			b = binary.LittleEndian.AppendUint32(b, f.Dev)
		default:
			b = appendStr16(b, f.Name)
		}
		binary.LittleEndian.PutUint32(b[start:], uint32(len(b)-start))
	}
	return b
}

// WriteUsers writes the user and group list block.
func (w *Writer) WriteUsers(users []User, groups []Group) error {
	var b []byte
	for _, u := range users {
		start := len(b)
		b = append(b, 0, 0, 0, 0, 0) // entry length, type user
		b = binary.LittleEndian.AppendUint32(b, u.UID)
		b = binary.LittleEndian.AppendUint32(b, u.GID)
		b = appendStr16(b, u.Name)
		b = appendStr16(b, u.Home)
		b = appendStr16(b, u.Shell)
		b = appendStr16(b, u.ContainerID)
		binary.LittleEndian.PutUint32(b[start:], uint32(len(b)-start))
	}
	for _, g := range groups {
		start := len(b)
		b = append(b, 0, 0, 0, 0, 1) // entry length, type group
		b = binary.LittleEndian.AppendUint32(b, g.GID)
		b = appendStr16(b, g.Name)
		b = appendStr16(b, g.ContainerID)
		binary.LittleEndian.PutUint32(b[start:], uint32(len(b)-start))
	}
	return w.WriteBlock(blockUserV2, b)
}

func appendI64(b []byte, vs ...int64) []byte {
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint64(b, uint64(v))
	}
	return b
}

func appendStr16(b []byte, s string) []byte {
	if len(s) > 0xffff {
		s = s[:0xffff]
	}
	b = binary.LittleEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// appendList16 writes NUL-terminated strings behind a 16-bit length.
func appendList16(b []byte, list []string) []byte {
	n := 0
	for _, s := range list {
		n += len(s) + 1
	}
	if n > 0xffff {
		n = 0xffff
	}
	b = binary.LittleEndian.AppendUint16(b, uint16(n))
	start := len(b)
	for _, s := range list {
		b = append(b, s...)
		b = append(b, 0)
	}
	return b[:start+n]
}

func appendAddr(b []byte, a netip.Addr, v6 bool) []byte {
	if v6 {
		s := a.As16()
		return append(b, s[:]...)
	}
	if !a.Is4() {
		return append(b, 0, 0, 0, 0)
	}
	s := a.As4()
	return append(b, s[:]...)
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}
