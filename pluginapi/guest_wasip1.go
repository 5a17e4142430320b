//go:build wasip1

package pluginapi

// This file turns the registered Optimizer into a plugin: the module's
// exports, and a Host built on the host's imports. It is the only file that
// knows the raw ABI; see docs/abi.md.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"unsafe"
)

// pinned keeps every buffer handed to the host reachable until the host
// frees it: the Go heap lives in linear memory and its garbage collector
// would otherwise reuse a buffer the host is still writing or reading. Like
// the registry, it is a package variable because exports have no receiver;
// the guest is single-threaded and exports are never re-entered, so it needs
// no lock.
var pinned = map[uintptr][]byte{}

//go:wasmexport alignhost_abi_version
func exportABIVersion() int32 { return ABIVersion }

//go:wasmexport alignhost_alloc
func exportAlloc(size uint32) unsafe.Pointer {
	if size == 0 {
		return nil
	}
	buf := make([]byte, size)
	p := unsafe.Pointer(unsafe.SliceData(buf))
	pinned[uintptr(p)] = buf
	return p
}

//go:wasmexport alignhost_free
func exportFree(ptr unsafe.Pointer) { delete(pinned, uintptr(ptr)) }

//go:wasmexport alignhost_describe
func exportDescribe() uint64 {
	defer yield()
	o := Registered()
	if o == nil {
		return result(EncodeError(CodeOptimizer, "no optimizer registered: call pluginapi.Register from a package-level variable initialiser"))
	}
	var d Description
	if msg, panicked := protect(func() { d = o.Describe() }); panicked {
		return result(EncodeError(CodePanic, "describe: "+msg))
	}
	b, err := json.Marshal(d)
	if err != nil {
		return result(EncodeError(CodeOptimizer, "encode description: "+err.Error()))
	}
	return result(b)
}

//go:wasmexport alignhost_align
func exportAlign(ptr unsafe.Pointer, size uint32) uint64 {
	defer yield()
	o := Registered()
	if o == nil {
		return result(EncodeError(CodeOptimizer, "no optimizer registered: call pluginapi.Register from a package-level variable initialiser"))
	}
	var req AlignRequest
	if err := json.Unmarshal(unsafe.Slice((*byte)(ptr), size), &req); err != nil {
		return result(EncodeError(CodeInvalidRequest, "decode align request: "+err.Error()))
	}
	var (
		resp *AlignResponse
		err  error
	)
	if msg, panicked := protect(func() { resp, err = o.Align(context.Background(), wasmHost{}, &req) }); panicked {
		return result(EncodeError(CodePanic, msg))
	}
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Code != "" {
			return result(EncodeError(e.Code, err.Error()))
		}
		return result(EncodeError(CodeOptimizer, err.Error()))
	}
	if resp == nil || resp.Judge == nil {
		return result(EncodeError(CodeOptimizer, "Align returned no judge"))
	}
	b, err := json.Marshal(resp)
	if err != nil {
		return result(EncodeError(CodeOptimizer, "encode align response: "+err.Error()))
	}
	return result(b)
}

// result pins b and returns it packed.
func result(b []byte) uint64 {
	p := unsafe.Pointer(unsafe.SliceData(b))
	pinned[uintptr(p)] = b
	return Pack(uint32(uintptr(p)), uint32(len(b)))
}

// protect runs f and turns a panic into a message; the stack goes to
// stderr, which the host logs.
func protect(f func()) (msg string, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			msg, panicked = fmt.Sprint(r), true
			fmt.Fprintf(os.Stderr, "optimizer panic: %s\n%s", msg, debug.Stack())
		}
	}()
	f()
	return "", false
}

// yield lets the Go scheduler run once. Other goroutines, the garbage
// collector's mark workers among them, run only while an export is active
// and something yields; a collection started in a call that returns without
// yielding can stall, and the heap then grows without bound over many
// calls.
func yield() { runtime.Gosched() }

//go:wasmimport alignhost_v1 chat
func hostChat(ptr unsafe.Pointer, size uint32) uint64

//go:wasmimport alignhost_v1 embed
func hostEmbed(ptr unsafe.Pointer, size uint32) uint64

//go:wasmimport alignhost_v1 evaluate
func hostEvaluate(ptr unsafe.Pointer, size uint32) uint64

//go:wasmimport alignhost_v1 take
func hostTake(handle uint32, ptr unsafe.Pointer, size uint32) int32

//go:wasmimport alignhost_v1 log
func hostLog(level int32, ptr unsafe.Pointer, size uint32)

//go:wasmimport alignhost_v1 progress
func hostProgress(done, total uint32, ptr unsafe.Pointer, size uint32)

// wasmHost implements Host with the host's imports.
type wasmHost struct{}

// capability names the request–response imports.
type capability int

const (
	capChat capability = iota
	capEmbed
	capEvaluate
)

// call sends v as JSON through a request–response import and takes the
// response.
func call(c capability, v any) ([]byte, error) {
	req, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	p, n := unsafe.Pointer(unsafe.SliceData(req)), uint32(len(req))
	var packed uint64
	switch c {
	case capChat:
		packed = hostChat(p, n)
	case capEmbed:
		packed = hostEmbed(p, n)
	case capEvaluate:
		packed = hostEvaluate(p, n)
	}
	runtime.KeepAlive(req)
	handle, size := Unpack(packed)
	if handle == 0 || size == 0 {
		return nil, fmt.Errorf("host returned no response (handle %d, length %d)", handle, size)
	}
	buf := make([]byte, size)
	if rc := hostTake(handle, unsafe.Pointer(unsafe.SliceData(buf)), size); rc != TakeOK {
		return nil, fmt.Errorf("take response %d: host answered %d", handle, rc)
	}
	yield()
	return buf, nil
}

func (wasmHost) Chat(_ context.Context, reqs []ChatRequest) ([]ChatResult, error) {
	data, err := call(capChat, ChatBatchRequest{Requests: reqs})
	if err != nil {
		return nil, fmt.Errorf("chat: %w", err)
	}
	resp, err := DecodeChatResponse(data)
	if err != nil {
		return nil, fmt.Errorf("chat: %w", err)
	}
	if len(resp.Results) != len(reqs) {
		return nil, fmt.Errorf("chat: %d results for %d requests", len(resp.Results), len(reqs))
	}
	return resp.Results, nil
}

func (wasmHost) Embed(_ context.Context, req EmbedRequest) (*EmbedResponse, error) {
	data, err := call(capEmbed, req)
	if err != nil {
		return nil, fmt.Errorf("embed: %w", err)
	}
	resp, err := DecodeEmbedResponse(data)
	if err != nil {
		return nil, fmt.Errorf("embed: %w", err)
	}
	if len(resp.Vectors) != len(req.Inputs) {
		return nil, fmt.Errorf("embed: %d vectors for %d inputs", len(resp.Vectors), len(req.Inputs))
	}
	return resp, nil
}

func (wasmHost) Evaluate(_ context.Context, req EvaluateRequest) (*EvaluateResponse, error) {
	data, err := call(capEvaluate, req)
	if err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	resp, err := DecodeEvaluateResponse(data)
	if err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	if want := len(req.Indices) + len(req.Examples); len(resp.Results) != want {
		return nil, fmt.Errorf("evaluate: %d results for %d examples", len(resp.Results), want)
	}
	return resp, nil
}

func (wasmHost) Log(level Level, msg string) {
	if len(msg) > MaxLogBytes {
		msg = shorten(msg, MaxLogBytes-len("…"))
	}
	hostLog(int32(level), unsafe.Pointer(unsafe.StringData(msg)), uint32(len(msg)))
}

func (wasmHost) Progress(done, total int, msg string) {
	hostProgress(clampU32(done), clampU32(total), unsafe.Pointer(unsafe.StringData(msg)), uint32(len(msg)))
}

func clampU32(n int) uint32 {
	switch {
	case n < 0:
		return 0
	case uint64(n) > 1<<32-1:
		return 1<<32 - 1
	}
	return uint32(n)
}
