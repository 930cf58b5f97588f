package capture

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// source is what the reader takes blocks from: a buffered stream, or a
// capture file mapped into memory, which decodes in place with no copy.
type source interface {
	io.Reader
	// Peek returns the next n bytes without consuming them; fewer, with
	// an error, at the end of the data.
	Peek(n int) ([]byte, error)
	Discard(n int) (int, error)
	// Size is the largest n Peek can return.
	Size() int
}

// mapped is a source over a file mapped read-only into memory.
type mapped struct {
	data []byte
	off  int
}

// mapFile maps an uncompressed capture file. It returns nil when the file
// cannot be mapped (not a regular file, empty, gzip-compressed); the
// caller then reads it as a stream.
func mapFile(f *os.File) *mapped {
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() < 2 || fi.Size() > 1<<40 {
		return nil
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil
	}
	if data[0] == 0x1f && data[1] == 0x8b {
		_ = unix.Munmap(data) // a compressed file is read as a stream instead
		return nil
	}
	// Only a hint: read-ahead helps, its failure does not matter.
	_ = unix.Madvise(data, unix.MADV_SEQUENTIAL)
	return &mapped{data: data}
}

func (m *mapped) Read(p []byte) (int, error) {
	if m.off >= len(m.data) {
		return 0, io.EOF
	}
	n := copy(p, m.data[m.off:])
	m.off += n
	return n, nil
}

func (m *mapped) Peek(n int) ([]byte, error) {
	if n > len(m.data)-m.off {
		return m.data[m.off:], io.EOF
	}
	return m.data[m.off : m.off+n], nil
}

func (m *mapped) Discard(n int) (int, error) {
	n = min(n, len(m.data)-m.off)
	m.off += n
	return n, nil
}

func (m *mapped) Size() int { return len(m.data) }

func (m *mapped) close() error {
	if m.data == nil {
		return nil
	}
	err := unix.Munmap(m.data)
	m.data = nil
	return err
}
