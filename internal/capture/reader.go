package capture

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// Options bound what a Reader accepts. The zero value selects the defaults.
type Options struct {
	// MaxBlockSize bounds a metadata block (process, fd, user lists);
	// default 256 MiB. A larger block is an error.
	MaxBlockSize int
	// MaxEventSize bounds an event block of a large-payload type
	// (container metadata, plugin events); default 16 MiB. Other event
	// blocks are bounded by the format to 64 KiB.
	MaxEventSize int
	// MaxThreads bounds the threads kept from process list blocks;
	// default 1<<20. Entries past it are counted and dropped.
	MaxThreads int
	// OnBlock, when set, sees the raw body of every table block (not
	// section headers or events) before it is parsed, to copy tables
	// into another capture. The body is valid during the call only.
	OnBlock func(typ uint32, body []byte)
}

func (o *Options) withDefaults() Options {
	out := Options{MaxBlockSize: 256 << 20, MaxEventSize: 16 << 20, MaxThreads: 1 << 20}
	if o != nil {
		if o.MaxBlockSize > 0 {
			out.MaxBlockSize = o.MaxBlockSize
		}
		if o.MaxEventSize > 0 {
			out.MaxEventSize = o.MaxEventSize
		}
		if o.MaxThreads > 0 {
			out.MaxThreads = o.MaxThreads
		}
		out.OnBlock = o.OnBlock
	}
	return out
}

// SectionHeader is the header of a capture section.
type SectionHeader struct {
	Major, Minor uint16
	Length       int64 // -1 when not given
}

// Stats counts what the reader met and skipped.
type Stats struct {
	Blocks         uint64 // blocks read, of any type
	Events         uint64 // event blocks returned by Next
	UnknownEvents  uint64 // event blocks of codes newer than this package, skipped
	BadEvents      uint64 // event blocks whose parameters did not fit, skipped
	SkippedBlocks  uint64 // blocks of unknown type, skipped
	BadBlocks      uint64 // metadata blocks whose contents did not parse, skipped
	DroppedThreads uint64 // process entries past Options.MaxThreads
	Sections       uint64
	// FirstBadBlock describes the first block skipped for bad contents.
	FirstBadBlock error
}

// PassedStats counts the events Reader.Pass left out.
type PassedStats struct {
	// Events counts those that make an event of their own: exit halves
	// and standalone events (an enter half joins its exit).
	Events uint64
	// Shown counts those of Events that sysdig and Falco show.
	Shown uint64
}

// readBufSize is the buffered reader's size. Blocks that fit are decoded in
// place; larger ones are copied into a buffer grown as their data arrives.
const readBufSize = 1 << 16

// Reader reads a scap capture: its tables (machine, threads and their fds,
// users, interfaces) and then its events, one block at a time. Tables found
// after the first event (a later section of a merged file) are appended to
// the same fields; Threads only grows, so a consumer can apply new entries
// by remembering how many it has seen.
type Reader struct {
	opts       Options
	br         source
	mapped     *mapped
	gz         *gzip.Reader
	file       *os.File
	compressed bool
	off        int64 // offset of the next unread byte (uncompressed)

	pendingHdr   [blockHeaderLen]byte
	havePending  bool
	pendingStart int64

	Section    SectionHeader
	Machine    MachineInfo
	HasMachine bool
	Threads    []*ThreadInfo
	Users      []User
	Groups     []Group
	Interfaces []Interface
	Stats      Stats

	// Pass, when set, says for each event code whether Next returns its
	// events. The others are numbered and counted (Stats.Events, and
	// Passed) but not returned, and their parameters are never examined
	// (malformed ones are not counted as BadEvents), as libsinsp parses an
	// event's parameters only when something reads them.
	Pass *[NumCodes]bool
	// Passed counts the events Pass left out.
	Passed PassedStats

	big      []byte // blocks larger than the read buffer
	byTid    map[int64]*ThreadInfo
	num      uint64
	activity bool // an event other than a container record was read
}

// Open opens a capture file. An uncompressed file is mapped into memory
// and decoded in place; it must not be truncated while it is read.
func Open(path string, opts *Options) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	var r *Reader
	if m := mapFile(f); m != nil {
		r, err = newReader(m, opts, false)
		if err != nil {
			_ = m.close() // the read error is the one to report
		} else {
			r.mapped = m
		}
	} else {
		r, err = NewReader(f, opts)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r.file = f
	return r, nil
}

// NewReader reads the section header and the tables that precede the
// first event. A gzip-compressed stream is decompressed transparently.
func NewReader(src io.Reader, opts *Options) (*Reader, error) {
	br := bufio.NewReaderSize(src, readBufSize)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, &FormatError{Offset: 0, Compressed: true, Msg: "bad gzip header", Err: err}
		}
		r, err := newReader(bufio.NewReaderSize(gz, readBufSize), opts, true)
		if err != nil {
			return nil, err
		}
		r.gz = gz
		return r, nil
	}
	return newReader(br, opts, false)
}

// newReader reads the tables of a capture from src.
func newReader(src source, opts *Options, compressed bool) (*Reader, error) {
	r := &Reader{opts: opts.withDefaults(), byTid: map[int64]*ThreadInfo{}, br: src, compressed: compressed}
	if err := r.readSectionStart(); err != nil {
		return nil, err
	}
	if err := r.readTables(); err != nil {
		return nil, err
	}
	return r, nil
}

// Close releases the file opened by Open. Events read before keep no
// reference to it only if they were cloned.
func (r *Reader) Close() error {
	var errs []error
	if r.gz != nil {
		errs = append(errs, r.gz.Close())
	}
	if r.mapped != nil {
		errs = append(errs, r.mapped.close())
	}
	if r.file != nil {
		errs = append(errs, r.file.Close())
	}
	return errors.Join(errs...)
}

// Compressed reports whether the capture is gzip-compressed.
func (r *Reader) Compressed() bool { return r.compressed }

// Stable reports whether the bytes of the events Next returns stay valid
// until Close (an uncompressed file, mapped into memory), so that keeping
// an event needs no copy of them.
func (r *Reader) Stable() bool {
	_, ok := r.br.(*mapped)
	return ok
}

// Offset returns the number of uncompressed bytes consumed so far.
func (r *Reader) Offset() int64 { return r.off }

func (r *Reader) errorf(off int64, err error, format string, args ...any) error {
	return &FormatError{Offset: off, Compressed: r.compressed, Msg: fmt.Sprintf(format, args...), Err: err}
}

// readHeader reads the next block header. It returns io.EOF at a clean end.
func (r *Reader) readHeader() (typ, length uint32, start int64, err error) {
	if r.havePending {
		r.havePending = false
		return binary.LittleEndian.Uint32(r.pendingHdr[:]), binary.LittleEndian.Uint32(r.pendingHdr[4:]), r.pendingStart, nil
	}
	start = r.off
	var h [blockHeaderLen]byte
	n, err := io.ReadFull(r.br, h[:])
	r.off += int64(n)
	switch {
	case err == io.EOF:
		return 0, 0, start, io.EOF
	case err == io.ErrUnexpectedEOF:
		return 0, 0, start, r.errorf(start, nil, "file truncated: %d bytes of a block header", n)
	case err != nil:
		return 0, 0, start, r.errorf(start, err, "read block header")
	}
	typ = binary.LittleEndian.Uint32(h[:])
	length = binary.LittleEndian.Uint32(h[4:])
	if length < blockFramesLen {
		return 0, 0, start, r.errorf(start, nil, "block type %#x declares %d bytes, less than its own frame", typ, length)
	}
	return typ, length, start, nil
}

// readBody reads a block's body and trailer and checks the trailer. The
// returned slice excludes the trailer and is valid until the next read.
func (r *Reader) readBody(typ, length uint32, start int64, limit int) ([]byte, error) {
	n := int64(length) - blockHeaderLen
	if int64(length) > int64(limit) {
		return nil, r.errorf(start, nil, "block type %#x declares %d bytes, more than the %d this reader accepts", typ, length, limit)
	}
	var body []byte
	if n <= int64(r.br.Size()) {
		b, err := r.br.Peek(int(n))
		if err != nil {
			return nil, r.truncated(start, typ, length, len(b), err)
		}
		if _, err := r.br.Discard(int(n)); err != nil {
			return nil, r.truncated(start, typ, length, len(b), err)
		}
		body = b
	} else {
		// Grow the buffer as the data arrives, so a huge length in a
		// short file does not allocate the declared size up front.
		r.big = r.big[:0]
		for int64(len(r.big)) < n {
			chunk := min(n-int64(len(r.big)), 1<<20)
			have := len(r.big)
			r.big = slices.Grow(r.big, int(chunk))[:have+int(chunk)]
			got, err := io.ReadFull(r.br, r.big[have:])
			if err != nil {
				return nil, r.truncated(start, typ, length, have+got, err)
			}
		}
		body = r.big
	}
	r.off += n
	trailer := binary.LittleEndian.Uint32(body[len(body)-4:])
	if trailer != length {
		return nil, r.errorf(start, nil, "block type %#x: length %d in its header but %d in its trailer (corrupt or not a capture)", typ, length, trailer)
	}
	r.Stats.Blocks++
	return body[:len(body)-4], nil
}

func (r *Reader) truncated(start int64, typ, length uint32, got int, err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return r.errorf(start, nil, "file truncated: block type %#x declares %d bytes, only %d follow its header", typ, length, got)
	}
	return r.errorf(start, err, "read block type %#x", typ)
}

// readSectionStart reads the section header block that starts a capture.
func (r *Reader) readSectionStart() error {
	typ, length, start, err := r.readHeader()
	if err == io.EOF {
		return r.errorf(0, ErrNotCapture, "empty file")
	}
	if err != nil {
		return err
	}
	if typ != blockSection {
		return r.errorf(start, ErrNotCapture, "first block has type %#x, not a section header %#x", typ, blockSection)
	}
	return r.readSection(length, start)
}

func (r *Reader) readSection(length uint32, start int64) error {
	if length > 1<<16 {
		return r.errorf(start, ErrNotCapture, "section header declares %d bytes", length)
	}
	body, err := r.readBody(blockSection, length, start, 1<<16)
	if err != nil {
		return err
	}
	c := cursor{b: body}
	magic := c.u32()
	h := SectionHeader{Major: c.u16(), Minor: c.u16(), Length: c.i64()}
	if c.err != nil {
		return r.errorf(start, ErrNotCapture, "section header of %d bytes is too short", length)
	}
	if magic != sectionMagic {
		return r.errorf(start, ErrNotCapture, "section header magic %#x, want %#x (a big-endian or foreign file)", magic, sectionMagic)
	}
	if h.Major > supportedMajor {
		return r.errorf(start, nil, "capture format version %d.%d is newer than this reader (%d.x)", h.Major, h.Minor, supportedMajor)
	}
	r.Section = h
	r.Stats.Sections++
	return nil
}

// readTables reads metadata blocks up to the first event block, which is
// left pending for Next.
func (r *Reader) readTables() error {
	for {
		typ, length, start, err := r.readHeader()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if isEventBlock(typ) {
			binary.LittleEndian.PutUint32(r.pendingHdr[:], typ)
			binary.LittleEndian.PutUint32(r.pendingHdr[4:], length)
			r.pendingStart = start
			r.havePending = true
			return nil
		}
		if err := r.readMeta(typ, length, start); err != nil {
			return err
		}
	}
}

// readMeta reads and applies one non-event block.
func (r *Reader) readMeta(typ, length uint32, start int64) error {
	if typ == blockSection {
		return r.readSection(length, start)
	}
	body, err := r.readBody(typ, length, start, r.opts.MaxBlockSize)
	if err != nil {
		return err
	}
	if r.opts.OnBlock != nil {
		r.opts.OnBlock(typ, body)
	}
	var perr error
	switch typ {
	case blockMachine, blockMachineInt:
		var m MachineInfo
		if m, perr = parseMachine(body); perr == nil {
			r.Machine, r.HasMachine = m, true
		}
	case blockProcV1, blockProcV1Int, blockProcV2, blockProcV2Int, blockProcV3, blockProcV3Int,
		blockProcV4, blockProcV5, blockProcV6, blockProcV7, blockProcV8, blockProcV9:
		perr = parseProcList(body, typ, r.addThread)
	case blockFD, blockFDInt, blockFDV2:
		var tid int64
		var fds []FDInfo
		if tid, fds, perr = parseFDList(body, typ); perr == nil {
			if t := r.byTid[tid]; t != nil {
				t.FDs = append(t.FDs, fds...)
			}
		}
	case blockUser, blockUserInt, blockUserV2:
		var users []User
		var groups []Group
		if users, groups, perr = parseUserList(body, typ); perr == nil {
			r.Users = append(r.Users, users...)
			r.Groups = append(r.Groups, groups...)
		}
	case blockIface, blockIfaceInt, blockIfaceV2:
		var ifs []Interface
		if ifs, perr = parseIfaceList(body, typ); perr == nil {
			r.Interfaces = append(r.Interfaces, ifs...)
		}
	default:
		r.Stats.SkippedBlocks++
		return nil
	}
	if perr != nil {
		r.Stats.BadBlocks++
		if r.Stats.FirstBadBlock == nil {
			r.Stats.FirstBadBlock = &BlockError{Offset: start, Type: typ, Msg: perr.Error()}
		}
	}
	return nil
}

func (r *Reader) addThread(t *ThreadInfo) {
	if old := r.byTid[t.Tid]; old != nil {
		*old = *t
		return
	}
	if len(r.Threads) >= r.opts.MaxThreads {
		r.Stats.DroppedThreads++
		return
	}
	r.Threads = append(r.Threads, t)
	r.byTid[t.Tid] = t
}

// Thread returns the capture's table entry for a thread id, or nil.
func (r *Reader) Thread(tid int64) *ThreadInfo { return r.byTid[tid] }

// Next reads the next event block into ev. Event data in ev is valid until
// the following call. At the end of the capture Next returns io.EOF; a
// *FormatError means the file cannot be read further.
func (r *Reader) Next(ev *Event) error {
	for {
		if ok, err := r.nextFast(ev); ok || err != nil {
			return err
		}
		typ, length, start, err := r.readHeader()
		if err != nil {
			return err
		}
		if !isEventBlock(typ) {
			if err := r.readMeta(typ, length, start); err != nil {
				return err
			}
			continue
		}
		limit := maxSmallEvent + blockHeaderLen
		if typ == blockEventV2Large || typ == blockEventFlagsV2Large {
			limit = r.opts.MaxEventSize
		}
		body, err := r.readBody(typ, length, start, limit)
		if err != nil {
			return err
		}
		if r.accept(ev, typ, body, start) {
			return nil
		}
	}
}

// nextFast decodes the next block in place when it is an event block that
// is already buffered whole, the common case. It returns false, with no
// error, to leave any other block to the general path.
func (r *Reader) nextFast(ev *Event) (bool, error) {
	for !r.havePending {
		h, err := r.br.Peek(blockHeaderLen)
		if err != nil {
			return false, nil
		}
		typ := binary.LittleEndian.Uint32(h)
		length := int(binary.LittleEndian.Uint32(h[4:]))
		if !isEventBlock(typ) || length < blockFramesLen || length > r.br.Size() || length > maxSmallEvent+blockHeaderLen && typ != blockEventV2Large && typ != blockEventFlagsV2Large {
			return false, nil
		}
		b, err := r.br.Peek(length)
		if err != nil || binary.LittleEndian.Uint32(b[length-4:]) != uint32(length) {
			return false, nil // let the general path report it
		}
		start := r.off
		if _, err := r.br.Discard(length); err != nil {
			return false, nil
		}
		r.off += int64(length)
		r.Stats.Blocks++
		if r.accept(ev, typ, b[blockHeaderLen:length-4], start) {
			return true, nil
		}
	}
	return false, nil
}

// accept decodes an event block body into ev and reports whether it is an
// event to return; skipped blocks are counted.
func (r *Reader) accept(ev *Event, typ uint32, body []byte, start int64) bool {
	h, ok, msg := ev.decodeHeader(typ, body)
	if ok {
		activity := r.activity
		r.num++
		ev.Num = r.num
		ev.Offset = start
		ev.Preamble = false
		if isContainer(ev.Code) {
			ev.Preamble = !r.activity
		} else {
			r.activity = true
		}
		if r.Pass != nil && !r.Pass[ev.Code] {
			r.Stats.Events++
			if ev.Info.IsExit() || ev.Info.Standalone() {
				r.Passed.Events++
				if ev.Shown() {
					r.Passed.Shown++
				}
			}
			return false
		}
		ok, msg = ev.decodeParams(h)
		if !ok {
			// Not an event after all: take back its number.
			r.num--
			r.activity = activity
		}
	}
	if !ok {
		if msg == "" {
			r.Stats.UnknownEvents++
			return false
		}
		r.Stats.BadEvents++
		if r.Stats.FirstBadBlock == nil {
			r.Stats.FirstBadBlock = &BlockError{Offset: start, Type: typ, Msg: msg}
		}
		return false
	}
	r.Stats.Events++
	return true
}
