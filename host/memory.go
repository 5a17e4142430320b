package host

import (
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// pageSize is the size of a WebAssembly memory page.
const pageSize = 64 << 10

// linearMemory backs one instance's linear memory and enforces the
// plugin's memory limit itself, so that the host knows when a guest was
// refused memory (wazero's own limit refuses silently). Where the platform
// can, the limit is reserved up front with mmap and never moves or copies
// (see memory_unix.go); otherwise the memory grows like wazero's default.
type linearMemory struct {
	limit   uint64 // bytes
	backing backing
	// refused is set when a grow beyond the limit was refused.
	refused atomic.Bool
}

// backing is the storage of a linearMemory.
type backing interface {
	// grow returns the memory resized to size bytes (size ≤ the
	// reservation), or nil.
	grow(size uint64) []byte
	free()
}

// memoryAllocator returns the allocator for one instance and the memory it
// will create, so the caller can ask afterwards whether the guest was
// refused memory.
func memoryAllocator(limitBytes uint64) (experimental.MemoryAllocator, *linearMemory) {
	lm := &linearMemory{limit: limitBytes}
	return experimental.MemoryAllocatorFunc(func(_, max uint64) experimental.LinearMemory {
		reserve := min(max, limitBytes)
		lm.backing = newBacking(reserve)
		return lm
	}), lm
}

// Reallocate implements experimental.LinearMemory.
func (m *linearMemory) Reallocate(size uint64) []byte {
	if size > m.limit {
		m.refused.Store(true)
		return nil
	}
	return m.backing.grow(size)
}

// Free implements experimental.LinearMemory.
func (m *linearMemory) Free() {
	if m.backing != nil {
		m.backing.free()
		m.backing = nil
	}
}

// sliceBacking is a Go slice grown by copying, as wazero's default memory.
type sliceBacking struct {
	buf     []byte
	reserve uint64
}

func (s *sliceBacking) grow(size uint64) []byte {
	if size > s.reserve {
		return nil
	}
	if uint64(cap(s.buf)) >= size {
		s.buf = s.buf[:size]
		return s.buf
	}
	// Grow geometrically, like append, but never past the reservation.
	c := max(size, min(s.reserve, uint64(cap(s.buf))*2))
	buf := make([]byte, size, c)
	copy(buf, s.buf)
	s.buf = buf
	return buf
}

func (s *sliceBacking) free() { s.buf = nil }
