package capture

import (
	"errors"
	"fmt"
)

// Block types of the scap file format. A file is a sequence of blocks, each
// framed as pcapng frames them: a 32-bit type, a 32-bit total length, the
// body, padding to 4 bytes and the total length again. The *_INT variants
// are numbers libscap used before its first release; it still reads them.
const (
	blockSection = 0x0A0D0D0A

	blockMachine    = 0x201
	blockMachineInt = 0x8002ABCD

	blockProcV1    = 0x202
	blockProcV1Int = 0x8000ABCD
	blockProcV2    = 0x207
	blockProcV2Int = 0x8013ABCD
	blockProcV3    = 0x209
	blockProcV3Int = 0x8014ABCD
	blockProcV4    = 0x210
	blockProcV5    = 0x211
	blockProcV6    = 0x212
	blockProcV7    = 0x213
	blockProcV8    = 0x214
	blockProcV9    = 0x215

	blockFD    = 0x203
	blockFDInt = 0x8001ABCD
	blockFDV2  = 0x218

	blockEvent        = 0x204
	blockEventInt     = 0x8010ABCD
	blockEventV2      = 0x216
	blockEventV2Large = 0x221

	blockEventFlags        = 0x208
	blockEventFlagsV2      = 0x217
	blockEventFlagsV2Large = 0x222

	blockIface    = 0x205
	blockIfaceInt = 0x8011ABCD
	blockIfaceV2  = 0x219

	blockUser    = 0x206
	blockUserInt = 0x8012ABCD
	blockUserV2  = 0x220
)

// sectionMagic is the byte-order magic of a section header in a
// little-endian file; the format has only ever been written little-endian.
const sectionMagic = 0x1A2B3C4D

// supportedMajor is the newest major version of the format we read.
const supportedMajor = 1

// Sizes of fixed parts.
const (
	blockHeaderLen = 8  // type + total length
	blockFramesLen = 12 // header + trailing length
	evtHeaderV1    = 22 // ts, tid, len, type
	evtHeaderV2    = 26 // ts, tid, len, type, nparams
	// maxEventParams bounds the parameters of one event block, as
	// libscap's PPM_MAX_EVENT_PARAMS does (the largest event has 32).
	maxEventParams = 32
	// maxSmallEvent is libscap's bound on an event block that is not of a
	// "large" type: the 64 KiB read buffer.
	maxSmallEvent = 1 << 16
)

// Dump flags of event blocks with flags (EVF).
const (
	// DumpStateOnly marks an event kept in a filtered capture only because
	// it changes state (a fork, an open): readers apply it to their tables
	// and do not show it.
	DumpStateOnly uint32 = 1 << 0
	// DumpTracer marks an event written by the tracer subsystem.
	DumpTracer uint32 = 1 << 1
)

func isEventBlock(t uint32) bool {
	switch t {
	case blockEvent, blockEventInt, blockEventV2, blockEventV2Large,
		blockEventFlags, blockEventFlagsV2, blockEventFlagsV2Large:
		return true
	}
	return false
}

// ErrNotCapture is wrapped by the error of a file that does not start with
// a scap section header.
var ErrNotCapture = errors.New("not a scap capture")

// FormatError reports input the reader cannot go past: a broken block frame,
// a truncated file, bad compression. Offset is the byte offset of the
// offending block in the uncompressed stream.
type FormatError struct {
	Offset int64
	// Compressed is set when the file is gzip-compressed, so offsets count
	// uncompressed bytes.
	Compressed bool
	Msg        string
	Err        error
}

func (e *FormatError) Error() string {
	where := fmt.Sprintf("offset %d", e.Offset)
	if e.Compressed {
		where += " (of the uncompressed stream)"
	}
	s := "scap: " + where + ": " + e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *FormatError) Unwrap() error { return e.Err }

// BlockError describes one block the reader skipped because its contents
// made no sense (the frame around it was intact).
type BlockError struct {
	Offset int64
	Type   uint32
	Msg    string
}

func (e *BlockError) Error() string {
	return fmt.Sprintf("scap: offset %d: block type %#x skipped: %s", e.Offset, e.Type, e.Msg)
}
