// Command abiv2 is a plugin built for a future version 2 of the plugin ABI:
// it imports alignhost_v2 and reports version 2. The host must refuse it
// with a readable message.
//
// The tests build it with:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o abiv2.wasm ./host/testdata/abiv2
package main

import "unsafe"

var pinned = map[uintptr][]byte{}

//go:wasmimport alignhost_v2 log
func hostLog(level int32, ptr unsafe.Pointer, size uint32)

//go:wasmexport alignhost_abi_version
func abiVersion() int32 { return 2 }

//go:wasmexport alignhost_alloc
func alloc(size uint32) unsafe.Pointer {
	buf := make([]byte, size)
	p := unsafe.Pointer(unsafe.SliceData(buf))
	pinned[uintptr(p)] = buf
	return p
}

//go:wasmexport alignhost_free
func free(ptr unsafe.Pointer) { delete(pinned, uintptr(ptr)) }

func result(b []byte) uint64 {
	p := unsafe.Pointer(unsafe.SliceData(b))
	pinned[uintptr(p)] = b
	return uint64(uintptr(p))<<32 | uint64(len(b))
}

//go:wasmexport alignhost_describe
func describe() uint64 {
	msg := "describing"
	hostLog(0, unsafe.Pointer(unsafe.StringData(msg)), uint32(len(msg)))
	return result([]byte(`{"name": "abiv2", "version": "2.0.0"}`))
}

//go:wasmexport alignhost_align
func align(ptr unsafe.Pointer, size uint32) uint64 {
	return result(append([]byte(nil), unsafe.Slice((*byte)(ptr), size)...))
}

func main() {}
