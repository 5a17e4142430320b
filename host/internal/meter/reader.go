package meter

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

var (
	errShort = errors.New("unexpected end")
	errLEB   = errors.New("LEB128 number too long")
)

// reader reads the binary format; the first error sticks, and every read
// after it returns zero.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) left() int { return len(r.b) - r.off }

func (r *reader) fail(what string) error {
	err := r.err
	if err == nil {
		err = errShort
	}
	return fmt.Errorf("%w: %s at offset %d: %v", ErrMalformed, what, r.off, err)
}

// done checks that a section's payload was read to its end.
func (r *reader) done(what string) error {
	if r.err != nil {
		return r.fail(what)
	}
	if r.off != len(r.b) {
		return fmt.Errorf("%w: %s: %d bytes left over", ErrMalformed, what, len(r.b)-r.off)
	}
	return nil
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.err = errShort
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *reader) skip(n int) {
	if r.err != nil {
		return
	}
	if n > r.left() {
		r.err = errShort
		return
	}
	r.off += n
}

// leb reads an unsigned LEB128 number of at most max bytes; signed numbers
// are skipped with it too (only their length matters).
func (r *reader) leb(max int) uint64 {
	if r.err == nil && r.off < len(r.b) && r.b[r.off] < 0x80 { // one byte: most of them
		c := r.b[r.off]
		r.off++
		return uint64(c)
	}
	var v uint64
	for i := 0; ; i++ {
		if r.err != nil {
			return 0
		}
		if i == max {
			r.err = errLEB
			return 0
		}
		c := r.byte()
		if i < 10 {
			v |= uint64(c&0x7f) << (7 * i)
		}
		if c&0x80 == 0 {
			return v
		}
	}
}

func (r *reader) u32() uint32 {
	v := r.leb(5)
	if v > 1<<32-1 {
		r.err = errLEB
		return 0
	}
	return uint32(v)
}

func (r *reader) name() string {
	n := r.u32()
	if r.err != nil {
		return ""
	}
	if int(n) > r.left() {
		r.err = errShort
		return ""
	}
	s := string(r.b[r.off : r.off+int(n)])
	r.off += int(n)
	if !utf8.ValidString(s) {
		r.err = errors.New("name is not UTF-8")
		return ""
	}
	return s
}

func (r *reader) valType() byte {
	t := r.byte()
	switch t {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f, 0x69:
	default:
		if r.err == nil {
			r.err = fmt.Errorf("value type 0x%02x is not read", t)
		}
	}
	return t
}

func (r *reader) refType() { r.valType() }

// limits reads a table's or memory's limits (memory64 and shared flags
// included).
func (r *reader) limits() Memory {
	flags := r.byte()
	if flags > 7 && r.err == nil {
		r.err = fmt.Errorf("limits flags 0x%02x", flags)
	}
	var m Memory
	m.Min = r.leb(10)
	if flags&1 != 0 {
		m.Max, m.HasMax = r.leb(10), true
	}
	return m
}

// blockType skips a block type: 0x40, a value type, or a type index
// (a positive signed 33-bit number).
func (r *reader) blockType() {
	if r.err != nil {
		return
	}
	if r.off >= len(r.b) {
		r.err = errShort
		return
	}
	// One byte with bit 6 set and no continuation is 0x40 or a value
	// type (a negative number as s33); anything else is a type index.
	if c := r.b[r.off]; c&0xc0 == 0x40 {
		r.off++
		return
	}
	r.leb(5)
}

// memArg skips an alignment (with its memory index when bit 6 is set) and
// an offset.
func (r *reader) memArg() {
	align := r.u32()
	if align&0x40 != 0 {
		r.u32()
	}
	r.leb(10)
}
