package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/alignhost/alignhost/pluginapi"
)

// abandonGrace is how long Align waits, once a native optimizer's context
// has ended, for an optimizer that does not return before it returns to
// its caller and leaves the optimizer to finish on its own.
const abandonGrace = 100 * time.Millisecond

// Native runs an Optimizer in-process, through the same request and
// response types, the same JSON encoding, the same capability rules and the
// same limits (except memory) as a WebAssembly plugin: one optimizer's code
// is tested and benchmarked natively and shipped as WebAssembly. It is safe
// for concurrent use when the optimizer is.
//
// Natively a limit cannot unwind the optimizer: the capability call that
// hits it returns the *LimitError and the optimizer's context is
// cancelled, and Align reports the limit whatever the optimizer returns.
// An optimizer that outlives its wall time by abandonGrace is left running
// and Align returns.
type Native struct {
	host   *Host
	opt    pluginapi.Optimizer
	desc   pluginapi.Description
	prep   *preparer
	limits Limits
	log    *slog.Logger
	sem    chan struct{}
}

// LoadNative wraps an optimizer for in-process runs under m's limits
// (memory pages, grants, pool and hash do not apply).
func (h *Host) LoadNative(o pluginapi.Optimizer, m Manifest) (*Native, error) {
	if o == nil {
		return nil, errors.New("load native optimizer: nil optimizer")
	}
	label := m.Name
	if label == "" {
		label = fmt.Sprintf("%T", o)
	}
	limits := m.Limits.withDefaults()
	if err := limits.validate(); err != nil {
		return nil, &Error{Plugin: label, Op: "load", Kind: InvalidInput, Message: err.Error(), Err: err}
	}
	var desc pluginapi.Description
	if msg, panicked := protect(func() { desc = o.Describe() }); panicked {
		return nil, &Error{Plugin: label, Op: "describe", Kind: OptimizerFailed, Message: "panic: describe: " + msg}
	}
	// Round-trip through JSON, as a description from WebAssembly would.
	data, err := json.Marshal(desc)
	if err != nil {
		return nil, &Error{Plugin: label, Op: "describe", Kind: OptimizerFailed, Message: "encode description: " + err.Error(), Err: err}
	}
	d, err := pluginapi.DecodeDescription(data)
	if err != nil {
		return nil, &Error{Plugin: label, Op: "describe", Kind: ABIViolation, Message: "description: " + err.Error(), Err: err}
	}
	if err := d.Validate(); err != nil {
		return nil, &Error{Plugin: label, Op: "describe", Kind: ABIViolation, Message: err.Error(), Err: err}
	}
	n := &Native{
		host: h, opt: o, desc: *d, limits: limits,
		log: h.log.With(slog.String("plugin", d.Name), slog.Bool("native", true)),
		sem: make(chan struct{}, limits.Instances),
	}
	n.prep = &preparer{name: d.Name, desc: &n.desc, limits: limits, roles: h.roles}
	return n, nil
}

// Description returns what the optimizer said about itself.
func (n *Native) Description() pluginapi.Description { return n.desc }

// protect runs f and turns a panic into a message.
func protect(f func()) (msg string, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			msg, panicked = fmt.Sprint(r), true
		}
	}()
	f()
	return "", false
}

// Align runs one alignment in-process; see [Plugin.Align].
func (n *Native) Align(ctx context.Context, in Input) (*Result, error) {
	start := time.Now()
	name := n.desc.Name
	req, err := n.prep.request(in)
	if err != nil {
		return nil, err
	}
	var guestReq pluginapi.AlignRequest
	if err := n.roundTrip(req, &guestReq); err != nil {
		return nil, err
	}
	select {
	case n.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("plugin %s: align: wait for a slot: %w", name, ctx.Err())
	}
	defer func() { <-n.sem }()

	wall := &LimitError{Plugin: name, Op: "align", Limit: LimitWallTime, Value: n.limits.wallTime().String()}
	sess := &session{
		plugin: name, desc: &n.desc, limits: n.limits,
		models: n.host.models, noCache: n.host.noCache, roles: roleMap(n.host.roles), evaluator: n.host.eval, log: n.log,
		judge: req.Judge, examples: req.Examples, judgeModels: in.JudgeModels, judgeParams: in.JudgeParams, progress: in.Progress,
		wallLimit: wall,
	}
	tctx, cancelTime := context.WithTimeoutCause(ctx, n.limits.wallTime(), wall)
	defer cancelTime()
	cctx, cancel := context.WithCancelCause(tctx)
	defer cancel(nil)
	h := &nativeHost{sess: sess, log: n.log, cancel: cancel}

	type outcome struct {
		resp     *pluginapi.AlignResponse
		err      error
		panicMsg string
		panicked bool
	}
	done := make(chan outcome, 1)
	go func() {
		var o outcome
		o.panicMsg, o.panicked = protect(func() { o.resp, o.err = n.opt.Align(cctx, h, &guestReq) })
		done <- o
	}()
	var o outcome
	defer func() {
		h.logMu.Lock()
		defer h.logMu.Unlock()
		h.logs.report(ctx, h.log)
	}()
	select {
	case o = <-done:
	case <-cctx.Done():
		t := time.NewTimer(abandonGrace)
		select {
		case o = <-done:
			t.Stop()
		case <-t.C:
			if err := sess.fatalErr(); err != nil {
				return nil, err
			}
			return nil, sess.stopped(tctx)
		}
	}
	if err := sess.fatalErr(); err != nil {
		return nil, err
	}
	if tctx.Err() != nil {
		return nil, sess.stopped(tctx)
	}
	switch {
	case o.panicked:
		return nil, &Error{Plugin: name, Op: "align", Kind: OptimizerFailed, Message: "panic: " + o.panicMsg,
			Err: &pluginapi.Error{Code: pluginapi.CodePanic, Message: o.panicMsg}}
	case o.err != nil:
		return nil, &Error{Plugin: name, Op: "align", Kind: OptimizerFailed, Message: o.err.Error(), Err: o.err}
	case o.resp == nil || o.resp.Judge == nil:
		return nil, &Error{Plugin: name, Op: "align", Kind: OptimizerFailed, Message: "Align returned no judge"}
	}
	var resp pluginapi.AlignResponse
	if err := n.roundTrip(o.resp, &resp); err != nil {
		return nil, err
	}
	return n.prep.finish(in, &resp, sess.usage(), time.Since(start))
}

// roundTrip copies in to out through JSON, as the ABI would, within the
// message-size limit.
func (n *Native) roundTrip(in, out any) error {
	data, err := json.Marshal(in)
	if err != nil {
		return &Error{Plugin: n.desc.Name, Op: "align", Kind: OptimizerFailed, Message: "encode message: " + err.Error(), Err: err}
	}
	if len(data) > n.limits.MessageBytes {
		return &LimitError{Plugin: n.desc.Name, Op: "align", Limit: LimitMessageSize, Value: mib(uint64(n.limits.MessageBytes))}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &Error{Plugin: n.desc.Name, Op: "align", Kind: ABIViolation, Message: "decode message: " + err.Error(), Err: err}
	}
	return nil
}

// nativeHost is the Host an in-process optimizer gets. Requests and
// responses go through JSON, so the optimizer sees exactly what it would
// see in WebAssembly.
type nativeHost struct {
	sess   *session
	log    *slog.Logger
	cancel context.CancelCauseFunc

	logMu    sync.Mutex // a native optimizer may log from several goroutines
	logs     logGate
	progress logGate
}

// exchange runs one capability call: req through JSON into the session's
// method, the answer back through JSON into resp.
func exchange[Req, Resp any](ctx context.Context, h *nativeHost, req any, f func(context.Context, *Req) (*Resp, error)) (*Resp, error) {
	if err := h.sess.fatalErr(); err != nil {
		return nil, err
	}
	data, err := json.Marshal(req)
	if err != nil {
		return nil, &pluginapi.Error{Code: pluginapi.CodeInvalidRequest, Message: "encode request: " + err.Error()}
	}
	if len(data) > h.sess.limits.MessageBytes {
		return nil, h.fatal(h.sess.limitError(LimitMessageSize, mib(uint64(h.sess.limits.MessageBytes))))
	}
	var r Req
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, &pluginapi.Error{Code: pluginapi.CodeInvalidRequest, Message: "decode request: " + err.Error()}
	}
	resp, err := f(ctx, &r)
	if err != nil {
		var pe *pluginapi.Error
		if errors.As(err, &pe) {
			return nil, pe
		}
		return nil, h.fatal(err)
	}
	out, err := json.Marshal(resp)
	if err != nil {
		return nil, &pluginapi.Error{Code: pluginapi.CodeInvalidRequest, Message: "encode response: " + err.Error()}
	}
	if len(out) > h.sess.limits.MessageBytes {
		return nil, h.fatal(h.sess.limitError(LimitMessageSize, mib(uint64(h.sess.limits.MessageBytes))))
	}
	var back Resp
	if err := json.Unmarshal(out, &back); err != nil {
		return nil, &pluginapi.Error{Code: pluginapi.CodeInvalidRequest, Message: "decode response: " + err.Error()}
	}
	return &back, nil
}

// fatal records err as the call's end and cancels the optimizer.
func (h *nativeHost) fatal(err error) error {
	err = h.sess.fail(err)
	h.cancel(err)
	return err
}

func (h *nativeHost) Chat(ctx context.Context, reqs []pluginapi.ChatRequest) ([]pluginapi.ChatResult, error) {
	resp, err := exchange(ctx, h, pluginapi.ChatBatchRequest{Requests: reqs}, h.sess.chat)
	if err != nil {
		return nil, err
	}
	return resp.Results, nil
}

func (h *nativeHost) Embed(ctx context.Context, req pluginapi.EmbedRequest) (*pluginapi.EmbedResponse, error) {
	return exchange(ctx, h, req, h.sess.embed)
}

func (h *nativeHost) Evaluate(ctx context.Context, req pluginapi.EvaluateRequest) (*pluginapi.EvaluateResponse, error) {
	return exchange(ctx, h, req, h.sess.evaluate)
}

func (h *nativeHost) Log(level pluginapi.Level, msg string) {
	msg = shorten(validUTF8(msg), pluginapi.MaxLogBytes)
	h.logMu.Lock()
	ok := h.logs.admit(context.Background(), h.log, len(msg))
	h.logMu.Unlock()
	if ok {
		h.log.LogAttrs(context.Background(), slogLevel(level), msg)
	}
}

func (h *nativeHost) Progress(done, total int, msg string) {
	msg = shorten(validUTF8(msg), pluginapi.MaxLogBytes)
	h.logMu.Lock()
	ok := h.progress.admitQuietly(len(msg))
	h.logMu.Unlock()
	if !ok {
		return
	}
	h.sess.report(context.Background(), h.log, max(done, 0), max(total, 0), msg)
}

var _ Runner = (*Native)(nil)
