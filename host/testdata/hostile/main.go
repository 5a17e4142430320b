// Command hostile is a plugin that misbehaves on request. It implements the
// ABI by hand from docs/abi.md, without package pluginapi, so that it can
// break the ABI too.
//
// Its align does what the request's config key "mode" says (see align
// below). Environment variables, which a test grants, choose misbehaviour
// before align: HOSTILE_ABI sets the ABI version it reports,
// HOSTILE_DESCRIBE breaks describe, HOSTILE_INIT breaks start-up.
//
// The tests build it with:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o hostile.wasm ./host/testdata/hostile
package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

var pinned = map[uintptr][]byte{}

func init() {
	switch os.Getenv("HOSTILE_INIT") {
	case "panic":
		panic("hostile start-up")
	case "loop":
		spin()
	}
}

//go:wasmexport alignhost_abi_version
func abiVersion() int32 {
	if v, err := strconv.Atoi(os.Getenv("HOSTILE_ABI")); err == nil {
		return int32(v)
	}
	return 1
}

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

func fail(format string, args ...any) uint64 {
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": "optimizer", "message": fmt.Sprintf(format, args...)}})
	return result(b)
}

//go:wasmexport alignhost_describe
func describe() uint64 {
	switch os.Getenv("HOSTILE_DESCRIBE") {
	case "invalid_json":
		return result([]byte(`{"name": "hostile",`))
	case "bad_name":
		return result([]byte(`{"name": "Hostile Plugin!", "version": "1"}`))
	case "panic":
		panic("hostile describe")
	case "loop":
		spin()
	case "chat":
		chatOnce()
	case "error":
		return fail("cannot describe myself")
	}
	return result([]byte(`{
		"name": "hostile", "version": "1.0.0",
		"description": "Misbehaves on request.",
		"capabilities": ["chat"],
		"config": [
			{"key": "mode", "type": "string", "default": "ok"},
			{"key": "size_mb", "type": "integer", "default": 40},
			{"key": "n", "type": "integer", "default": 0}
		]}`))
}

var sink int

//go:noinline
func spin() {
	for i := 0; ; i++ {
		sink = i
	}
}

//go:noinline
func recurse(n int) int {
	var frame [512]byte
	frame[n%len(frame)] = byte(n)
	return recurse(n+1) + int(frame[0])
}

var hog [][]byte

//go:wasmimport alignhost_v1 chat
func hostChat(ptr unsafe.Pointer, size uint32) uint64

//go:wasmimport alignhost_v1 take
func hostTake(handle uint32, ptr unsafe.Pointer, size uint32) int32

//go:wasmimport alignhost_v1 log
func hostLog(level int32, ptr unsafe.Pointer, size uint32)

//go:wasmimport alignhost_v1 progress
func hostProgress(done, total uint32, ptr unsafe.Pointer, size uint32)

// chatOnce sends one chat request and takes the answer; it returns the
// answer's JSON.
func chatOnce() string {
	req := []byte(`{"requests": [{"messages": [{"role": "user", "content": "hello"}]}]}`)
	packed := hostChat(unsafe.Pointer(unsafe.SliceData(req)), uint32(len(req)))
	handle, n := uint32(packed>>32), uint32(packed)
	buf := make([]byte, n)
	if rc := hostTake(handle, unsafe.Pointer(unsafe.SliceData(buf)), n); rc != 0 {
		panic(fmt.Sprintf("take: %d", rc))
	}
	return string(buf)
}

type request struct {
	Judge  map[string]any `json:"judge"`
	Config struct {
		Mode   string `json:"mode"`
		SizeMB int    `json:"size_mb"`
		N      int    `json:"n"`
	} `json:"config"`
}

func respond(j map[string]any) uint64 {
	b, err := json.Marshal(map[string]any{"judge": j, "report": map[string]any{"summary": "hostile"}})
	if err != nil {
		return fail("encode: %v", err)
	}
	return result(b)
}

//go:wasmexport alignhost_align
func align(ptr unsafe.Pointer, size uint32) uint64 {
	var req request
	if err := json.Unmarshal(unsafe.Slice((*byte)(ptr), size), &req); err != nil {
		return fail("decode: %v", err)
	}
	j := req.Judge
	switch req.Config.Mode {
	case "ok":
	case "loop":
		spin()
	case "alloc":
		for {
			b := make([]byte, 1<<20)
			b[len(b)-1] = 1
			hog = append(hog, b)
		}
	case "recurse":
		sink = recurse(0)
	case "panic":
		panic("deliberate")
	case "deadlock":
		ch := make(chan int)
		<-ch
	case "exit":
		os.Exit(3)
	case "invalid_json":
		return result([]byte(`{"judge": {"name": `))
	case "rename":
		j["name"] = "someone_else"
	case "bad_template":
		j["instructions"] = "Judge {{ nonsense }} carefully."
	case "change_model":
		j["model"] = "openai:/gpt-5"
	case "change_params":
		j["inference_params"] = map[string]any{"temperature": 2, "service_tier": "priority", "max_tokens": 100000}
	case "change_description":
		j["description"] = "rewritten"
	case "drop_member":
		delete(j, "future_member")
	case "guideline_bomb":
		guidelines := make([]any, 100)
		for i := range guidelines {
			guidelines[i] = map[string]any{"text": strings.Repeat("g", 4<<10)}
		}
		j["memory"] = map[string]any{"guidelines": guidelines, "retrieval": map[string]any{"k": 3}}
	case "change_type":
		j["type"] = "string"
		delete(j, "values")
	case "gigantic":
		j["description"] = strings.Repeat("x", req.Config.SizeMB<<20)
	case "oob_result":
		return 0xFFFF0000<<32 | 4096
	case "no_result":
		return 0
	case "bad_log_pointer":
		hostLog(0, unsafe.Pointer(uintptr(0xFFFFFF00)), 4096)
	case "bad_chat_pointer":
		hostChat(unsafe.Pointer(uintptr(0xFFFFFFF0)), 64)
	case "bad_take_pointer":
		req := []byte(`{"requests": [{"messages": [{"role": "user", "content": "hello"}]}]}`)
		packed := hostChat(unsafe.Pointer(unsafe.SliceData(req)), uint32(len(req)))
		hostTake(uint32(packed>>32), unsafe.Pointer(uintptr(0xFFFFFF00)), uint32(packed))
	case "never_take":
		req := []byte(`{"requests": [{"messages": [{"role": "user", "content": "hello"}]}]}`)
		for {
			hostChat(unsafe.Pointer(unsafe.SliceData(req)), uint32(len(req)))
		}
	case "budget":
		for {
			chatOnce()
		}
	case "chat":
		say(j, chatOnce())
	case "read_file":
		data, err := os.ReadFile("/etc/hostname")
		if err != nil {
			return fail("read file: %v", err)
		}
		return fail("read %d bytes of /etc/hostname", len(data))
	case "env":
		return fail("environment: %q", os.Environ())
	case "network":
		conn, err := net.Dial("tcp", "127.0.0.1:80")
		if err != nil {
			return fail("dial: %v", err)
		}
		conn.Close()
		return fail("dialled 127.0.0.1:80")
	case "random":
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return fail("random: %v", err)
		}
		say(j, hex.EncodeToString(b[:]))
	case "clock":
		say(j, time.Now().UTC().Format(time.RFC3339))
	case "output":
		fmt.Println("hello from stdout")
		fmt.Fprintln(os.Stderr, "hello from stderr")
		msg := "hello from log"
		hostLog(4, unsafe.Pointer(unsafe.StringData(msg)), uint32(len(msg)))
	case "progress_loop":
		// n host-function round trips, for the benchmarks.
		for i := range req.Config.N {
			hostProgress(uint32(i), uint32(req.Config.N), nil, 0)
		}
	case "chat_loop":
		// n chat round trips, for the benchmarks.
		for range req.Config.N {
			chatOnce()
		}
	case "log_flood":
		// Far more log messages than a call may log.
		msg := "log flood " + strings.Repeat("z", 100)
		for range req.Config.N {
			hostLog(2, unsafe.Pointer(unsafe.StringData(msg)), uint32(len(msg)))
		}
	case "flood":
		line := strings.Repeat("y", 1023) + "\n"
		for range 3 << 10 {
			os.Stdout.WriteString(line)
		}
	default:
		return fail("unknown mode %q", req.Config.Mode)
	}
	return respond(j)
}

func main() {}

// say passes a value back to the test in the judge's instructions, the one
// member a plugin may rewrite: it appends " [value]".
func say(j map[string]any, v string) {
	instr, _ := j["instructions"].(string)
	j["instructions"] = instr + " [" + v + "]"
}
