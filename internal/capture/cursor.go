package capture

import (
	"encoding/binary"
	"errors"
)

var errShort = errors.New("entry runs past the end of its block")

// cursor reads little-endian values from a block body. Reads past the end
// yield zero values and set err, so a parser checks once per entry.
type cursor struct {
	b   []byte
	off int
	err error
}

func (c *cursor) left() int { return len(c.b) - c.off }

func (c *cursor) take(n int) []byte {
	if c.err != nil || n < 0 || n > c.left() {
		c.err = errShort
		c.off = len(c.b)
		return nil
	}
	p := c.b[c.off : c.off+n]
	c.off += n
	return p
}

func (c *cursor) u8() uint8 {
	p := c.take(1)
	if p == nil {
		return 0
	}
	return p[0]
}

func (c *cursor) u16() uint16 {
	p := c.take(2)
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint16(p)
}

func (c *cursor) u32() uint32 {
	p := c.take(4)
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(p)
}

func (c *cursor) u64() uint64 {
	p := c.take(8)
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(p)
}

func (c *cursor) i64() int64 { return int64(c.u64()) }

// str16 reads a string with a 16-bit length prefix (not NUL-terminated on
// disk, though some writers include a NUL we drop).
func (c *cursor) str16() string {
	n := int(c.u16())
	return cstring(c.take(n))
}

// cstring returns b up to its first NUL.
func cstring(b []byte) string {
	for i, x := range b {
		if x == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
