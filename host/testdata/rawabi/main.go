// Command rawabi is an optimizer plugin written from docs/abi.md alone,
// without the Go SDK: its own exports, its own alignhost_v1 imports and its
// own JSON types, on the standard library only. It proves that the document
// is enough to implement the ABI.
//
// Its align asks the "reflection" model for one guideline, appends the
// answer to the judge's memory and returns the judge with every member it
// does not know left exactly as it came. On the way it probes the handle
// protocol and reports what take answered in the report's counts. The
// config key "mode" makes it misbehave instead:
//
//   - "error" returns an error object;
//   - "rename" returns the judge under another name;
//   - "undeclared" also calls embed, which it does not declare, and reports
//     the error code it got;
//   - "short_result" returns a one-byte result;
//   - "take_outside" passes take a buffer outside its memory.
//
// The tests build it with:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o rawabi.wasm ./host/testdata/rawabi
package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"unsafe"
)

// The imports of ABI version 1. Every pointer and length is an i32
// interpreted as unsigned; a request–response import returns
// (handle << 32) | response_len. Pointers are declared unsafe.Pointer so
// that the compiler knows what the host reads or writes.

//go:wasmimport alignhost_v1 chat
func hostChat(ptr unsafe.Pointer, size uint32) uint64

//go:wasmimport alignhost_v1 embed
func hostEmbed(ptr unsafe.Pointer, size uint32) uint64

//go:wasmimport alignhost_v1 take
func hostTake(handle uint32, ptr unsafe.Pointer, size uint32) uint32

//go:wasmimport alignhost_v1 log
func hostLog(level int32, ptr unsafe.Pointer, size uint32)

// takeOK is what take returns on success; 1 is an unknown handle, 2 a
// length that is not the response's.
const takeOK = 0

// buffers holds every buffer handed to the host, by address, so that the
// garbage collector keeps it alive until the host frees it. A WebAssembly
// guest's allocator is necessarily module state; the host never calls in
// concurrently nor during an import, so it needs no lock.
var buffers = map[uint32][]byte{}

// data returns a pointer to b's first byte, for an import.
func data(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }

// address returns the linear-memory address of b's first byte.
func address(b []byte) uint32 { return uint32(uintptr(data(b))) }

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

// packed keeps b for the host and returns (address << 32) | length.
func packed(b []byte) uint64 {
	p := address(b)
	buffers[p] = b
	return uint64(p)<<32 | uint64(len(b))
}

// result encodes v as a packed result, or an error object if it cannot.
func result(v any) uint64 {
	b, err := json.Marshal(v)
	if err != nil {
		return failure("optimizer", fmt.Sprintf("encode result: %v", err))
	}
	return packed(b)
}

// errorObject is what an export returns, and an import answers, on failure.
type errorObject struct {
	Error *errorBody `json:"error,omitempty"`
}

type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func failure(code, message string) uint64 {
	return result(errorObject{Error: &errorBody{Code: code, Message: message}})
}

// configKey is one key of the Description's config.
type configKey struct {
	Key         string `json:"key"`
	Type        string `json:"type"`
	Default     any    `json:"default,omitempty"`
	Description string `json:"description,omitempty"`
}

type description struct {
	Name         string      `json:"name"`
	Version      string      `json:"version"`
	Description  string      `json:"description"`
	Capabilities []string    `json:"capabilities"`
	Config       []configKey `json:"config"`
}

//go:wasmexport alignhost_describe
func describe() uint64 {
	return result(description{
		Name:         "rawabi",
		Version:      "0.1.0",
		Description:  "Adds one guideline from the reflection model, through the raw ABI.",
		Capabilities: []string{"chat"},
		Config: []configKey{{
			Key: "mode", Type: "string", Default: "",
			Description: "How to misbehave: error, rename, undeclared, short_result, take_outside; empty: behave.",
		}},
	})
}

// alignRequest holds the members of an AlignRequest this optimizer reads.
// The judge stays raw JSON so that the judge returned keeps every member,
// known or not, exactly as it came.
type alignRequest struct {
	Judge    map[string]json.RawMessage `json:"judge"`
	Examples []struct {
		TraceID string `json:"trace_id"`
	} `json:"examples"`
	Config struct {
		Mode string `json:"mode"`
	} `json:"config"`
}

type report struct {
	Summary  string         `json:"summary"`
	Counts   map[string]int `json:"counts"`
	Warnings []string       `json:"warnings,omitempty"`
}

type alignResponse struct {
	Judge  map[string]json.RawMessage `json:"judge"`
	Report report                     `json:"report"`
}

type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type chatRequest struct {
	Model    string    `json:"model"`
	Messages []message `json:"messages"`
}

// chatResponse is a ChatBatchResponse or an error object: a failed item
// carries its error as a string, a failed call as an object.
type chatResponse struct {
	Results []struct {
		Content string `json:"content"`
		Error   string `json:"error"`
	} `json:"results"`
	Error *errorBody `json:"error"`
}

type guideline struct {
	Text           string   `json:"text"`
	SourceTraceIDs []string `json:"source_trace_ids,omitempty"`
}

//go:wasmexport alignhost_align
func align(ptr, size uint32) uint64 {
	defer runtime.Gosched() // let a collection started in the call finish
	// The request lies in a buffer this module's alloc returned.
	buf, ok := buffers[ptr]
	if !ok || uint32(len(buf)) < size {
		return failure("optimizer", fmt.Sprintf("request at %#x was not allocated by alignhost_alloc", ptr))
	}
	var req alignRequest
	if err := json.Unmarshal(buf[:size], &req); err != nil {
		return failure("optimizer", fmt.Sprintf("decode request: %v", err))
	}
	switch req.Config.Mode {
	case "error":
		return failure("optimizer", "deliberate failure of a raw plugin")
	case "short_result":
		return packed([]byte("{"))
	}
	counts := map[string]int{}

	// The handle protocol: chat returns a handle and a length; take with a
	// wrong length or an unknown handle copies nothing.
	body, err := json.Marshal(map[string][]chatRequest{"requests": {{
		Model: "reflection",
		Messages: []message{
			{Role: "system", Content: "You write one guideline for an LLM judge."},
			{Role: "user", Content: fmt.Sprintf("Write one guideline learnt from %d labelled examples.", len(req.Examples))},
		},
	}}})
	if err != nil {
		return failure("optimizer", fmt.Sprintf("encode chat request: %v", err))
	}
	r := hostChat(data(body), uint32(len(body)))
	runtime.KeepAlive(body)
	runtime.Gosched()
	handle, n := uint32(r>>32), uint32(r)
	if req.Config.Mode == "take_outside" {
		hostTake(handle, unsafe.Add(nil, 0xffffff00), n) // past the end of memory
	}
	answer := make([]byte, n+1)
	counts["take_wrong_length"] = int(hostTake(handle, data(answer), n+1))
	counts["take_unknown_handle"] = int(hostTake(handle+1000, data(answer), n))
	answer = answer[:n]
	counts["take"] = int(hostTake(handle, data(answer), n))
	counts["take_again"] = int(hostTake(handle, data(answer), n))
	runtime.KeepAlive(answer)
	if counts["take"] != takeOK {
		return failure("optimizer", fmt.Sprintf("take answered %d", counts["take"]))
	}
	var chat chatResponse
	if err := json.Unmarshal(answer, &chat); err != nil {
		return failure("optimizer", fmt.Sprintf("decode chat response: %v", err))
	}
	switch {
	case chat.Error != nil:
		return failure("optimizer", fmt.Sprintf("chat: %s: %s", chat.Error.Code, chat.Error.Message))
	case len(chat.Results) != 1:
		return failure("optimizer", fmt.Sprintf("chat: %d results for 1 request", len(chat.Results)))
	case chat.Results[0].Error != "":
		return failure("optimizer", "chat: "+chat.Results[0].Error)
	}
	text := strings.TrimSpace(chat.Results[0].Content)
	logf(0, "reflection proposed %q", text)

	if req.Config.Mode == "undeclared" {
		// embed is not declared: it must answer an error object, and the
		// call goes on.
		code, err := call(hostEmbed, []byte(`{"model":"embedding","inputs":["x"]}`), func(b []byte) error {
			var e errorObject
			if err := json.Unmarshal(b, &e); err != nil {
				return err
			}
			if e.Error == nil {
				return fmt.Errorf("embed answered %s, not an error object", b)
			}
			counts["embed_"+e.Error.Code] = 1
			return nil
		})
		if err != nil || code != takeOK {
			return failure("optimizer", fmt.Sprintf("embed: take %d: %v", code, err))
		}
	}

	// Append the guideline to judge.memory.guidelines, creating memory if
	// absent; every other member stays byte for byte.
	var sources []string
	for _, ex := range req.Examples {
		sources = append(sources, ex.TraceID)
	}
	memory := map[string]json.RawMessage{}
	if raw, ok := req.Judge["memory"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &memory); err != nil {
			return failure("optimizer", fmt.Sprintf("decode judge memory: %v", err))
		}
	}
	var guidelines []json.RawMessage
	if raw, ok := memory["guidelines"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &guidelines); err != nil {
			return failure("optimizer", fmt.Sprintf("decode judge guidelines: %v", err))
		}
	}
	g, _ := json.Marshal(guideline{Text: text, SourceTraceIDs: sources})
	guidelines = append(guidelines, g)
	memory["guidelines"], _ = json.Marshal(guidelines)
	req.Judge["memory"], _ = json.Marshal(memory)
	// The host replaces provenance: this one must not survive.
	req.Judge["provenance"] = json.RawMessage(`{"optimizer":"forged","num_traces":-1}`)
	if req.Config.Mode == "rename" {
		req.Judge["name"] = json.RawMessage(`"renamed_by_rawabi"`)
	}
	counts["guidelines_added"] = 1
	return result(alignResponse{Judge: req.Judge, Report: report{
		Summary: fmt.Sprintf("added 1 guideline to %d", len(guidelines)-1),
		Counts:  counts,
	}})
}

// call runs a request–response import on body and hands the response to
// use, returning what take answered.
func call(imp func(ptr unsafe.Pointer, size uint32) uint64, body []byte, use func([]byte) error) (uint32, error) {
	r := imp(data(body), uint32(len(body)))
	runtime.KeepAlive(body)
	handle, n := uint32(r>>32), uint32(r)
	buf := make([]byte, n)
	code := hostTake(handle, data(buf), n)
	runtime.KeepAlive(buf)
	runtime.Gosched()
	if code != takeOK {
		return code, nil
	}
	return code, use(buf)
}

// logf writes one line to the host's log at a log/slog level.
func logf(level int32, format string, args ...any) {
	b := []byte(fmt.Sprintf(format, args...))
	hostLog(level, data(b), uint32(len(b)))
	runtime.KeepAlive(b)
}

func main() {}
