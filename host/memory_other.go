//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package host

func newBacking(reserve uint64) backing { return &sliceBacking{reserve: reserve} }
