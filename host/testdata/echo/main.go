// Command echo is an optimizer plugin that says what its caller tells it
// to, for fuzzing the host's side of every ABI message (host/fuzz_test.go).
// It implements docs/abi.md directly, like rawabi, on the standard library
// only, and
//
//   - answers alignhost_describe with the bytes in the environment
//     variable ECHO_DESCRIBE (base64) when it is set, else with a valid
//     description that declares chat, embed and evaluate;
//   - in alignhost_align, reads config "message" and "bytes" (base64) and
//     sends those bytes as the message named: "result" returns them as the
//     AlignResponse; "chat", "embed" and "evaluate" send them as that
//     import's request, take the response and check that it is one JSON
//     object; "log" and "progress" send them as the message of those
//     imports (config "level", "done" and "total" give the numbers);
//     "packed" returns config "packed", a decimal uint64, as the raw
//     packed result, pointer and length as they come.
//
// Unless it was told to return something else, align returns the judge
// unchanged, with counts in the report: "invalid_response" is 1 when a
// host response was not one JSON object, and "take" is what take answered.
//
// The tests build it with:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o echo.wasm ./host/testdata/echo
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"unsafe"
)

//go:wasmimport alignhost_v1 chat
func hostChat(ptr unsafe.Pointer, size uint32) uint64

//go:wasmimport alignhost_v1 embed
func hostEmbed(ptr unsafe.Pointer, size uint32) uint64

//go:wasmimport alignhost_v1 evaluate
func hostEvaluate(ptr unsafe.Pointer, size uint32) uint64

//go:wasmimport alignhost_v1 take
func hostTake(handle uint32, ptr unsafe.Pointer, size uint32) uint32

//go:wasmimport alignhost_v1 log
func hostLog(level int32, ptr unsafe.Pointer, size uint32)

//go:wasmimport alignhost_v1 progress
func hostProgress(done, total uint32, ptr unsafe.Pointer, size uint32)

// buffers keeps every buffer handed to the host alive until it is freed.
var buffers = map[uint32][]byte{}

func data(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(unsafe.SliceData(b))
}

func address(b []byte) uint32 { return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b)))) }

//go:wasmexport alignhost_abi_version
func abiVersion() uint32 { return 1 }

//go:wasmexport alignhost_alloc
func alloc(size uint32) uint32 {
	if size == 0 {
		return 0
	}
	b := make([]byte, size)
	p := address(b)
	buffers[p] = b
	return p
}

//go:wasmexport alignhost_free
func free(ptr uint32) { delete(buffers, ptr) }

// packed keeps b for the host and returns (address << 32) | length; an
// empty b is kept as one byte and returned with length 0.
func packed(b []byte) uint64 {
	if len(b) == 0 {
		b = make([]byte, 1)[:0:1]
	}
	p := address(b)
	buffers[p] = b[:cap(b)]
	return uint64(p)<<32 | uint64(len(b))
}

func failure(message string) uint64 {
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": "optimizer", "message": message}})
	return packed(b)
}

const description = `{"name":"echo","version":"0.1.0","description":"Says what its caller tells it to.",
"capabilities":["chat","embed","evaluate"],
"config":[{"key":"message","type":"string"},{"key":"bytes","type":"string"},{"key":"packed","type":"string"},
{"key":"level","type":"integer"},{"key":"done","type":"integer"},{"key":"total","type":"integer"}]}`

//go:wasmexport alignhost_describe
func describe() uint64 {
	if s, ok := os.LookupEnv("ECHO_DESCRIBE"); ok {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return failure("ECHO_DESCRIBE: " + err.Error())
		}
		return packed(b)
	}
	return packed([]byte(description))
}

type alignRequest struct {
	Judge  json.RawMessage `json:"judge"`
	Config struct {
		Message string `json:"message"`
		Bytes   string `json:"bytes"`
		Packed  string `json:"packed"`
		Level   int32  `json:"level"`
		Done    uint32 `json:"done"`
		Total   uint32 `json:"total"`
	} `json:"config"`
}

//go:wasmexport alignhost_align
func align(ptr, size uint32) uint64 {
	defer runtime.Gosched()
	buf, ok := buffers[ptr]
	if !ok || uint32(len(buf)) < size {
		return failure(fmt.Sprintf("request at %#x was not allocated by alignhost_alloc", ptr))
	}
	var req alignRequest
	if err := json.Unmarshal(buf[:size], &req); err != nil {
		return failure("decode request: " + err.Error())
	}
	body, err := base64.StdEncoding.DecodeString(req.Config.Bytes)
	if err != nil {
		return failure("config bytes: " + err.Error())
	}
	counts := map[string]int{}
	switch req.Config.Message {
	case "result":
		return packed(body)
	case "packed":
		v, err := strconv.ParseUint(req.Config.Packed, 10, 64)
		if err != nil {
			return failure("config packed: " + err.Error())
		}
		return v
	case "chat":
		counts["take"], counts["invalid_response"] = call(hostChat, body)
	case "embed":
		counts["take"], counts["invalid_response"] = call(hostEmbed, body)
	case "evaluate":
		counts["take"], counts["invalid_response"] = call(hostEvaluate, body)
	case "log":
		hostLog(req.Config.Level, data(body), uint32(len(body)))
		runtime.KeepAlive(body)
	case "progress":
		hostProgress(req.Config.Done, req.Config.Total, data(body), uint32(len(body)))
		runtime.KeepAlive(body)
	case "":
	default:
		return failure("unknown message " + strconv.Quote(req.Config.Message))
	}
	out, err := json.Marshal(map[string]any{"judge": req.Judge, "report": map[string]any{"summary": "echoed", "counts": counts}})
	if err != nil {
		return failure("encode response: " + err.Error())
	}
	return packed(out)
}

// call sends body through a request–response import and takes the
// response; it returns what take answered and 1 when the response is not
// one JSON object.
func call(imp func(unsafe.Pointer, uint32) uint64, body []byte) (take, invalid int) {
	r := imp(data(body), uint32(len(body)))
	runtime.KeepAlive(body)
	runtime.Gosched()
	handle, n := uint32(r>>32), uint32(r)
	resp := make([]byte, max(n, 1))[:n]
	take = int(hostTake(handle, unsafe.Pointer(unsafe.SliceData(resp)), n))
	runtime.KeepAlive(resp)
	runtime.Gosched()
	var obj map[string]json.RawMessage
	if take != 0 || !bytes.HasPrefix(bytes.TrimSpace(resp), []byte("{")) || json.Unmarshal(resp, &obj) != nil {
		invalid = 1
	}
	return take, invalid
}

func main() {}
