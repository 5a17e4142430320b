package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/alignhost/alignhost/pluginapi"
)

// callState is what the host functions know about the guest call in
// progress. It travels in the context given to the export, which wazero
// passes to every host function the guest calls.
type callState struct {
	plugin string
	op     string
	log    *slog.Logger
	limits Limits
	// sess is the align call's capabilities; nil outside align.
	sess *session
	// held are the responses not yet taken, by handle. Only the guest's
	// goroutine touches them.
	held map[uint32][]byte
	next uint32
	// fuelUsed is the fuel the call's exports were charged so far, out of
	// limits.Fuel.
	fuelUsed int64
	// logs bounds what the call logs, and progress its progress reports.
	logs, progress logGate

	// fatal is the first error a host function ended the call with, under
	// a lock so that any goroutine may read it.
	mu    sync.Mutex
	fatal error
}

type callKey struct{}

func withCall(ctx context.Context, cs *callState) context.Context {
	return context.WithValue(ctx, callKey{}, cs)
}

// callFrom returns the call state of ctx. A host function called without
// one (which the host never does) ends the call.
func callFrom(ctx context.Context) *callState {
	cs, ok := ctx.Value(callKey{}).(*callState)
	if !ok {
		panic(abort{errors.New("host function called outside a plugin call")})
	}
	return cs
}

// end records err as the call's fatal error and unwinds the guest.
func (cs *callState) end(err error) {
	cs.mu.Lock()
	if cs.fatal == nil {
		cs.fatal = err
	}
	err = cs.fatal
	cs.mu.Unlock()
	panic(abort{err})
}

// fatalErr returns the error a host function ended the call with, or nil.
func (cs *callState) fatalErr() error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.fatal
}

func (cs *callState) abiError(format string, args ...any) *Error {
	return &Error{Plugin: cs.plugin, Op: cs.op, Kind: ABIViolation, Message: fmt.Sprintf(format, args...)}
}

// read copies n bytes at ptr out of the guest's memory, or ends the call
// when they are not all inside it.
func (cs *callState) read(mod api.Module, fn string, ptr, n uint32) []byte {
	mem := mod.Memory()
	b, ok := mem.Read(ptr, n)
	if !ok {
		cs.end(cs.abiError("passed %s a buffer outside its memory (address %#x, length %d, memory %d bytes)", fn, ptr, n, mem.Size()))
	}
	return append([]byte(nil), b...)
}

// inAlign ends the call unless the guest is inside align.
func (cs *callState) inAlign(fn string) *session {
	if cs.sess == nil {
		cs.end(cs.abiError("called %s during %s; the capabilities are available only during align", fn, cs.op))
	}
	return cs.sess
}

// instantiateImports defines module alignhost_v1 in rt.
func instantiateImports(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(pluginapi.ModuleName)
	def := func(name string, f api.GoModuleFunc) {
		sig := importSignatures[name]
		b.NewFunctionBuilder().WithGoModuleFunction(f, sig.params, sig.results).Export(name)
	}
	def(pluginapi.ImportChat, requestResponse(pluginapi.ImportChat, func(ctx context.Context, s *session, data []byte) []byte {
		return serve(ctx, data, s.chat)
	}))
	def(pluginapi.ImportEmbed, requestResponse(pluginapi.ImportEmbed, func(ctx context.Context, s *session, data []byte) []byte {
		return serve(ctx, data, s.embed)
	}))
	def(pluginapi.ImportEvaluate, requestResponse(pluginapi.ImportEvaluate, func(ctx context.Context, s *session, data []byte) []byte {
		return serve(ctx, data, s.evaluate)
	}))
	def(pluginapi.ImportTake, take)
	def(pluginapi.ImportLog, logImport)
	def(pluginapi.ImportProgress, progressImport)
	_, err := b.Instantiate(ctx)
	return err
}

// requestResponse makes the host function of a request–response import:
// it reads the request, has do answer it, holds the answer and returns its
// handle and length.
func requestResponse(name string, do func(context.Context, *session, []byte) []byte) api.GoModuleFunc {
	return func(ctx context.Context, mod api.Module, stack []uint64) {
		cs := callFrom(ctx)
		s := cs.inAlign(name)
		ptr, n := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
		if int64(n) > int64(cs.limits.MessageBytes) {
			cs.end(s.limitError(LimitMessageSize, mib(uint64(cs.limits.MessageBytes))))
		}
		req := cs.read(mod, name, ptr, n)
		if len(cs.held) >= pluginapi.MaxHeldResponses {
			cs.end(cs.abiError("called %s while holding %d responses it never took", name, len(cs.held)))
		}
		resp := do(ctx, s, req)
		if err := s.fatalErr(); err != nil {
			cs.end(err)
		}
		if len(resp) > cs.limits.MessageBytes {
			cs.end(s.limitError(LimitMessageSize, mib(uint64(cs.limits.MessageBytes))))
		}
		cs.next++
		if cs.next == 0 {
			cs.next = 1
		}
		cs.held[cs.next] = resp
		stack[0] = pluginapi.Pack(cs.next, uint32(len(resp)))
	}
}

// serve decodes a request, answers it with f and encodes the answer or the
// refusal. A fatal error is left in the session; serve then returns nil.
func serve[Req, Resp any](ctx context.Context, data []byte, f func(context.Context, *Req) (*Resp, error)) []byte {
	var req Req
	if err := json.Unmarshal(data, &req); err != nil {
		return pluginapi.EncodeError(pluginapi.CodeInvalidRequest, "decode request: "+err.Error())
	}
	resp, err := f(ctx, &req)
	if err != nil {
		var pe *pluginapi.Error
		if errors.As(err, &pe) {
			return pluginapi.EncodeError(pe.Code, pe.Message)
		}
		return nil
	}
	out, err := json.Marshal(resp)
	if err != nil {
		return pluginapi.EncodeError(pluginapi.CodeInvalidRequest, "encode response: "+err.Error())
	}
	return out
}

// take is (handle, ptr, len) -> status.
func take(ctx context.Context, mod api.Module, stack []uint64) {
	cs := callFrom(ctx)
	cs.inAlign(pluginapi.ImportTake)
	handle, ptr, n := api.DecodeU32(stack[0]), api.DecodeU32(stack[1]), api.DecodeU32(stack[2])
	resp, ok := cs.held[handle]
	switch {
	case !ok:
		stack[0] = api.EncodeU32(pluginapi.TakeUnknown)
	case uint32(len(resp)) != n:
		stack[0] = api.EncodeU32(pluginapi.TakeWrongLength)
	default:
		mem := mod.Memory()
		if !mem.Write(ptr, resp) {
			cs.end(cs.abiError("passed take a buffer outside its memory (address %#x, length %d, memory %d bytes)", ptr, n, mem.Size()))
		}
		delete(cs.held, handle)
		stack[0] = api.EncodeU32(pluginapi.TakeOK)
	}
}

// logImport is (level, ptr, len) -> ().
func logImport(ctx context.Context, mod api.Module, stack []uint64) {
	cs := callFrom(ctx)
	level, ptr, n := api.DecodeI32(stack[0]), api.DecodeU32(stack[1]), api.DecodeU32(stack[2])
	msg := cs.text(mod, pluginapi.ImportLog, ptr, n)
	if cs.logs.admit(ctx, cs.log, len(msg)) {
		cs.log.LogAttrs(ctx, slogLevel(pluginapi.Level(level)), msg)
	}
}

// progressImport is (done, total, ptr, len) -> ().
func progressImport(ctx context.Context, mod api.Module, stack []uint64) {
	cs := callFrom(ctx)
	done, total := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
	msg := cs.text(mod, pluginapi.ImportProgress, api.DecodeU32(stack[2]), api.DecodeU32(stack[3]))
	if !cs.progress.admitQuietly(len(msg)) {
		return
	}
	if cs.sess == nil {
		cs.log.LogAttrs(ctx, slog.LevelDebug, "plugin progress", slog.Uint64("done", uint64(done)), slog.Uint64("total", uint64(total)), slog.String("message", msg))
		return
	}
	cs.sess.report(ctx, cs.log, int(done), int(total), msg)
}

// text reads a message for log or progress: the whole range must be in
// memory; the text is cut to pluginapi.MaxLogBytes and made valid UTF-8.
func (cs *callState) text(mod api.Module, fn string, ptr, n uint32) string {
	mem := mod.Memory()
	b, ok := mem.Read(ptr, n)
	if !ok {
		cs.end(cs.abiError("passed %s a buffer outside its memory (address %#x, length %d, memory %d bytes)", fn, ptr, n, mem.Size()))
	}
	if len(b) > pluginapi.MaxLogBytes {
		b = b[:pluginapi.MaxLogBytes]
	}
	return shorten(validUTF8(string(b)), pluginapi.MaxLogBytes)
}
