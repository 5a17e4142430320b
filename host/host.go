package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/alignhost/alignhost/host/internal/meter"
	"github.com/alignhost/alignhost/pluginapi"
)

// maxInitTime bounds a module's start-up (_initialize), its ABI version
// and its describe, unless the wall-time limit is shorter.
const maxInitTime = 30 * time.Second

// Host loads optimizer plugins and runs them. It owns the compilation
// cache, the model client and the evaluator the plugins' capabilities use.
// It is safe for concurrent use; close it when done.
type Host struct {
	cache    wazero.CompilationCache
	cacheDir string
	log      *slog.Logger
	models   ModelClient
	noCache  bool
	roles    []Role
	eval     Evaluator
	workers  int
	limits   CompileLimits
	guard    guard

	// compiling serialises compiles of the same module, so the second
	// finds the first's result in the cache instead of compiling again:
	// one token per module, held by the compile in progress.
	compileMu sync.Mutex
	compiling map[string]chan struct{}

	mu      sync.Mutex
	plugins map[*Plugin]struct{}
	closed  bool
}

// DefaultCacheDir returns the default directory of the compilation cache:
// alignhost/wasm under os.UserCacheDir.
func DefaultCacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "alignhost", "wasm"), nil
}

// New returns a host configured by cfg.
//
// # Errors
//
// New reports an invalid role (no name, a name twice, an unknown kind, no
// model) and a cache directory it cannot create or make private.
func New(ctx context.Context, cfg Config) (*Host, error) {
	h := &Host{
		log:       cfg.logger,
		models:    cfg.models,
		noCache:   cfg.noCache,
		eval:      cfg.evaluator,
		workers:   cfg.compileProcs,
		limits:    cfg.compile.withDefaults(),
		guard:     cfg.guard,
		compiling: map[string]chan struct{}{},
		plugins:   map[*Plugin]struct{}{},
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.workers <= 0 {
		h.workers = runtime.GOMAXPROCS(0)
	}
	seen := map[string]bool{}
	for _, r := range cfg.roles {
		switch {
		case strings.TrimSpace(r.Name) == "":
			return nil, errors.New("new host: a model role has no name")
		case seen[r.Name]:
			return nil, fmt.Errorf("new host: model role %q is given twice", r.Name)
		case r.Kind != pluginapi.ChatModel && r.Kind != pluginapi.EmbedModel:
			return nil, fmt.Errorf("new host: model role %q has kind %q; want %s or %s", r.Name, r.Kind, pluginapi.ChatModel, pluginapi.EmbedModel)
		case strings.TrimSpace(r.Model) == "":
			return nil, fmt.Errorf("new host: model role %q names no model", r.Name)
		case r.Dimensions < 0:
			return nil, fmt.Errorf("new host: model role %q has negative dimensions", r.Name)
		}
		seen[r.Name] = true
		h.roles = append(h.roles, r)
	}
	if len(h.roles) > 0 && h.models == nil {
		return nil, errors.New("new host: model roles are given without a model client")
	}

	dir := cfg.cacheDir
	if !cfg.cacheDirSet {
		d, err := DefaultCacheDir()
		if err != nil {
			h.log.LogAttrs(ctx, slog.LevelDebug, "no user cache directory; compiled plugins are cached in memory only", slog.String("error", err.Error()))
		}
		dir = d
	}
	if dir == "" {
		h.cache = wazero.NewCompilationCache()
		return h, nil
	}
	if err := privateDir(dir); err != nil {
		return nil, fmt.Errorf("new host: compilation cache: %w", err)
	}
	cache, err := wazero.NewCompilationCacheWithDir(dir)
	if err != nil {
		return nil, fmt.Errorf("new host: compilation cache %s: %w", dir, err)
	}
	h.cache, h.cacheDir = cache, dir
	return h, nil
}

// privateDir creates dir with mode 0700, or makes an existing one 0700: it
// will hold machine code that the host runs, so no one else may write it.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if st.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("make %s private: %w", dir, err)
		}
	}
	return nil
}

// CacheDir returns the directory of the on-disk compilation cache, or ""
// when compiled code is kept in memory only.
func (h *Host) CacheDir() string { return h.cacheDir }

// Roles returns the model roles plugins may name.
func (h *Host) Roles() []Role { return append([]Role(nil), h.roles...) }

// LoadFile reads a module from path and loads it; m.Name defaults to the
// file's base name.
func (h *Host) LoadFile(ctx context.Context, path string, m Manifest) (*Plugin, error) {
	wasm, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load plugin: %w", err)
	}
	if m.Name == "" {
		m.Name = filepath.Base(path)
	}
	return h.Load(ctx, wasm, m)
}

// Load checks a module against the compile limits, meters it (see the
// package documentation), compiles it (or finds it in the compilation
// cache), checks it against the ABI, starts one instance and asks it to
// describe itself.
//
// # Errors
//
// Load returns an *Error: InvalidInput for a bad manifest (a hash that does
// not match, trust without a hash, bad limits); ABIViolation for a module
// that is not valid WebAssembly, imports or exports the wrong things, or
// was built for another ABI version (errors.Is(err, ErrABIVersion));
// Crash when its start-up or describe fails; and a *LimitError when the
// module exceeds a compile limit ([CompileLimits]) or its start-up a
// limit.
func (h *Host) Load(ctx context.Context, wasm []byte, m Manifest) (*Plugin, error) {
	sum := sha256.Sum256(wasm)
	hexSum := hex.EncodeToString(sum[:])
	label := m.Name
	if label == "" {
		label = "sha256:" + hexSum[:12]
	}
	fail := func(kind Kind, err error) error {
		return &Error{Plugin: label, Op: "load", Kind: kind, Message: err.Error(), Err: err}
	}
	if m.SHA256 != "" && !strings.EqualFold(m.SHA256, hexSum) {
		return nil, fail(InvalidInput, fmt.Errorf("sha256 is %s, not the pinned %s", hexSum, strings.ToLower(m.SHA256)))
	}
	if m.Trusted && m.SHA256 == "" {
		return nil, fail(InvalidInput, errors.New("trusted needs a pinned sha256: trust is given to exact bytes"))
	}
	limits := m.Limits.withDefaults()
	if err := limits.validate(); err != nil {
		return nil, fail(InvalidInput, err)
	}
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("load plugin %s: host %w", label, ErrClosed)
	}

	structure, err := h.decode(wasm, label, "load")
	if err != nil {
		return nil, err
	}
	metered, err := structure.Instrument()
	if err != nil {
		return nil, fail(ABIViolation, err)
	}

	// No interrupt checks: the meter stops a module at its deadline.
	if h.guard != guardMeter {
		metered = wasm
	}
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().
		WithCompilationCache(h.cache).
		WithCloseOnContextDone(h.guard == guardInterrupts))
	p := &Plugin{
		name: label, info: nil, trusted: m.Trusted,
		limits: limits, grants: m.Grants, pool: m.Pool.withDefaults(), seed: m.Seed,
		runtime: rt, log: h.log.With(slog.String("plugin", label)),
		sem:  make(chan struct{}, limits.Instances),
		host: h,
	}
	ok := false
	defer func() {
		if !ok {
			p.closeRuntime()
		}
	}()
	compiled, err := h.compile(ctx, rt, metered, hexSum)
	if err != nil {
		var le *LimitError
		if errors.As(err, &le) {
			le.Plugin = label
			return nil, le
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("load plugin %s: compile: %w", label, err)
		}
		return nil, fail(ABIViolation, fmt.Errorf("not a valid WebAssembly module: %w", err))
	}
	p.compiled = compiled
	p.info = moduleInfo(structure, hexSum)
	if err := checkModule(compiled, p.info, limits); err != nil {
		return nil, fail(ABIViolation, err)
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		return nil, fail(ABIViolation, fmt.Errorf("instantiate WASI: %w", err))
	}
	if err := instantiateImports(ctx, rt); err != nil {
		return nil, fail(ABIViolation, fmt.Errorf("instantiate %s: %w", pluginapi.ModuleName, err))
	}

	inst, err := p.newInstance(ctx, "load")
	if err != nil {
		return nil, err
	}
	desc, err := p.describe(ctx, inst)
	if err != nil {
		inst.close()
		return nil, err
	}
	p.desc = *desc
	p.rename(desc.Name, inst)
	p.prep = &preparer{name: p.name, desc: &p.desc, sha256: hexSum, limits: limits, roles: h.roles}
	p.put(inst, true)

	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, fmt.Errorf("load plugin %s: host %w", label, ErrClosed)
	}
	h.plugins[p] = struct{}{}
	ok = true
	return p, nil
}

// decode reads a module's structure under the compile limits; label and
// op name the plugin and the step in errors.
func (h *Host) decode(wasm []byte, label, op string) (*meter.Module, error) {
	m, err := meter.Decode(wasm, h.limits.decodeLimits())
	if err == nil {
		return m, nil
	}
	var le *meter.LimitError
	if errors.As(err, &le) {
		value, detail := strconv.FormatInt(le.Max, 10), le.Detail()
		if le.Limit == meter.LimitModuleBytes || le.Limit == meter.LimitBodyBytes {
			value, detail = mib(uint64(le.Max)), detail+" bytes"
		}
		return nil, &LimitError{Plugin: label, Op: op, Limit: Limit(le.Limit), Value: value, Detail: detail}
	}
	return nil, &Error{Plugin: label, Op: op, Kind: ABIViolation, Message: "not a valid WebAssembly module: " + err.Error(), Err: err}
}

// compile compiles wasm in rt under the compile-time limit, one compile
// per module at a time. wazero v1.12.0 checks its context only between
// functions (and only with more than one worker), so the compile runs on
// its own goroutine: at the deadline the caller gets a *LimitError and the
// compile is abandoned, to end at its next function (the function limits
// bound how long that takes) without holding up later loads.
func (h *Host) compile(ctx context.Context, rt wazero.Runtime, wasm []byte, sum string) (wazero.CompiledModule, error) {
	limit := &LimitError{Op: "load", Limit: LimitCompileTime, Value: h.limits.CompileTime.String()}
	cctx, cancel := context.WithTimeoutCause(ctx, h.limits.CompileTime, limit)
	defer cancel()
	h.compileMu.Lock()
	token, ok := h.compiling[sum]
	if !ok {
		token = make(chan struct{}, 1)
		h.compiling[sum] = token
	}
	h.compileMu.Unlock()
	select {
	case token <- struct{}{}:
	case <-cctx.Done():
		return nil, context.Cause(cctx)
	}
	if cctx.Err() != nil {
		<-token
		return nil, context.Cause(cctx)
	}
	type outcome struct {
		cm  wazero.CompiledModule
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		defer func() { <-token }()
		cm, err := rt.CompileModule(experimental.WithCompilationWorkers(cctx, h.workers), wasm)
		done <- outcome{cm, err}
	}()
	select {
	case o := <-done:
		if o.err != nil && cctx.Err() != nil {
			return nil, context.Cause(cctx)
		}
		return o.cm, o.err
	case <-cctx.Done():
		return nil, context.Cause(cctx)
	}
}

// Inspect reads a module's structure — imports, exports, memory, function
// count and sizes — without compiling or running it. A module past a
// compile limit is refused with a *LimitError, as Load would.
func (h *Host) Inspect(ctx context.Context, wasm []byte) (*ModuleInfo, error) {
	sum := sha256.Sum256(wasm)
	m, err := h.decode(wasm, "sha256:"+hex.EncodeToString(sum[:])[:12], "inspect")
	if err != nil {
		return nil, fmt.Errorf("inspect module: %w", err)
	}
	return moduleInfo(m, hex.EncodeToString(sum[:])), nil
}

// Close closes every plugin and the compilation cache. It works on a
// cancelled context, but then does not wait for calls in flight: their
// plugins are left for the process to end.
func (h *Host) Close(ctx context.Context) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	plugins := make([]*Plugin, 0, len(h.plugins))
	for p := range h.plugins {
		plugins = append(plugins, p)
	}
	h.plugins = nil
	h.mu.Unlock()
	var errs []error
	for _, p := range plugins {
		if err := p.close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		if err := h.cache.Close(context.Background()); err != nil {
			errs = append(errs, fmt.Errorf("close compilation cache: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (h *Host) forget(p *Plugin) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.plugins, p)
}
