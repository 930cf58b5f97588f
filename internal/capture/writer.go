package capture

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// WriterOptions tune a Writer.
type WriterOptions struct {
	// Compress writes the capture gzip-compressed, as `sysdig -z -w` does.
	Compress bool
}

// Writer writes a capture in the scap format: a section header, then
// blocks. Tables are written as raw blocks (WriteBlock); events in the
// current event layout (EVF version 2, with parameter counts and flags).
type Writer struct {
	out   io.Writer
	bw    *bufio.Writer
	gz    *gzip.Writer
	buf   []byte
	err   error
	Count uint64 // event blocks written
}

// NewWriter starts a capture on w and writes its section header.
func NewWriter(w io.Writer, opts WriterOptions) (*Writer, error) {
	wr := &Writer{out: w}
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
	w.bw.Write(h[:])
	w.bw.Write(body)
	var zero [4]byte
	w.bw.Write(zero[:pad])
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
