package pluginapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alignhost/alignhost/internal/guestbuild"
	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/pluginapi"
)

// TestDependencies checks the promise of the package doc: pluginapi is
// compiled into every Go optimizer, so it imports only the standard library
// and package judge.
func TestDependencies(t *testing.T) {
	for _, goos := range []string{"", "wasip1"} {
		cmd := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".")
		if goos != "" {
			cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH=wasm")
		}
		out, err := cmd.Output()
		if err != nil {
			t.Skipf("go list unavailable: %v", err)
		}
		allowed := map[string]bool{
			"github.com/alignhost/alignhost/pluginapi": true,
			"github.com/alignhost/alignhost/judge":     true,
		}
		for _, dep := range strings.Fields(string(out)) {
			if !allowed[dep] {
				t.Errorf("GOOS=%s: package pluginapi depends on %s", goos, dep)
			}
		}
	}
}

// TestBuildsForWasip1 checks that the guest side compiles for WebAssembly
// and is vetted there (the wasmexport and wasmimport declarations only
// exist for wasip1).
func TestBuildsForWasip1(t *testing.T) {
	if testing.Short() {
		t.Skip("builds for wasip1")
	}
	if out, err := guestbuild.Go(t.Context(), "", "vet", "-trimpath", "."); err != nil {
		t.Fatalf("GOOS=wasip1 go vet: %v\n%s", err, out)
	}
	src, err := os.ReadFile("guest_wasip1.go")
	if err != nil {
		t.Fatal(err)
	}
	// The import module name is a literal in each wasmimport directive; it
	// must be ModuleName.
	for _, line := range strings.Split(string(src), "\n") {
		if rest, ok := strings.CutPrefix(line, "//go:wasmimport "); ok {
			if mod, _, _ := strings.Cut(rest, " "); mod != pluginapi.ModuleName {
				t.Errorf("%s imports from %q, want %q", line, mod, pluginapi.ModuleName)
			}
		}
	}
}

func TestPack(t *testing.T) {
	for _, c := range [][2]uint32{{0, 0}, {1, 2}, {0xFFFF0000, 4096}, {0xFFFFFFFF, 0xFFFFFFFF}} {
		p, n := pluginapi.Unpack(pluginapi.Pack(c[0], c[1]))
		if p != c[0] || n != c[1] {
			t.Errorf("Unpack(Pack(%#x, %d)) = %#x, %d", c[0], c[1], p, n)
		}
	}
	if got := pluginapi.Pack(0x10, 3); got != 0x10_0000_0003 {
		t.Errorf("Pack(0x10, 3) = %#x: the address is not in the high 32 bits", got)
	}
}

func TestDescriptionValidate(t *testing.T) {
	ok := pluginapi.Description{Name: "memalign", Version: "0.3.1",
		Capabilities: []pluginapi.Capability{pluginapi.Chat, pluginapi.Embed},
		Config:       []pluginapi.ConfigKey{{Key: "k", Type: pluginapi.ConfigInteger, Default: 5}}}
	cases := []struct {
		name   string
		change func(*pluginapi.Description)
		want   string
	}{
		{"valid", func(*pluginapi.Description) {}, ""},
		{"no name", func(d *pluginapi.Description) { d.Name = "" }, `name ""`},
		{"upper case name", func(d *pluginapi.Description) { d.Name = "MemAlign" }, `name "MemAlign"`},
		{"name starts with a digit", func(d *pluginapi.Description) { d.Name = "2fast" }, `name "2fast"`},
		{"long name", func(d *pluginapi.Description) { d.Name = strings.Repeat("a", 65) }, "1 to 64"},
		{"no version", func(d *pluginapi.Description) { d.Version = "" }, `version ""`},
		{"version with a space", func(d *pluginapi.Description) { d.Version = "1 beta" }, `version "1 beta"`},
		{"long description", func(d *pluginapi.Description) { d.Description = strings.Repeat("x", 5000) }, "5000 bytes"},
		{"unknown capability", func(d *pluginapi.Description) { d.Capabilities = []pluginapi.Capability{"http"} }, `unknown capability "http"`},
		{"config key twice", func(d *pluginapi.Description) { d.Config = append(d.Config, d.Config[0]) }, `config key "k" is listed twice`},
		{"unknown config type", func(d *pluginapi.Description) { d.Config[0].Type = "int" }, `unknown type "int"`},
		{"default of the wrong type", func(d *pluginapi.Description) { d.Config[0].Default = 2.5 }, `default of config key "k": 2.5 is not an integer`},
		{"negative minimum", func(d *pluginapi.Description) { d.MinExamples = -1 }, "min_examples -1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := ok
			d.Config = append([]pluginapi.ConfigKey(nil), ok.Config...)
			tc.change(&d)
			err := d.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate = %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestConfigTypeCheck(t *testing.T) {
	cases := []struct {
		typ  pluginapi.ConfigType
		v    any
		fits bool
	}{
		{pluginapi.ConfigString, "x", true},
		{pluginapi.ConfigString, 1, false},
		{pluginapi.ConfigInteger, int64(3), true},   // TOML
		{pluginapi.ConfigInteger, float64(3), true}, // JSON
		{pluginapi.ConfigInteger, json.Number("7"), true},
		{pluginapi.ConfigInteger, 3.5, false},
		{pluginapi.ConfigInteger, "3", false},
		{pluginapi.ConfigNumber, 3.5, true},
		{pluginapi.ConfigNumber, true, false},
		{pluginapi.ConfigBoolean, false, true},
		{pluginapi.ConfigBoolean, "false", false},
		{pluginapi.ConfigArray, []any{1, "a"}, true},
		{pluginapi.ConfigArray, []string{"a"}, true},
		{pluginapi.ConfigArray, map[string]any{}, false},
		{pluginapi.ConfigObject, map[string]any{"a": 1}, true},
		{pluginapi.ConfigObject, nil, false},
	}
	for _, tc := range cases {
		if err := tc.typ.Check(tc.v); (err == nil) != tc.fits {
			t.Errorf("%s.Check(%#v) = %v, want fits=%v", tc.typ, tc.v, err, tc.fits)
		}
	}
}

// TestMessagesRoundTrip checks that every message survives JSON with the
// field names of docs/abi.md.
func TestMessagesRoundTrip(t *testing.T) {
	j, err := judge.New("helpful", "Is {{ outputs }} helpful?", judge.WithValueType(judge.ValueType{Type: judge.Boolean}))
	if err != nil {
		t.Fatal(err)
	}
	j.Memory = &judge.Memory{
		Guidelines: []judge.Guideline{{Text: "Prefer specific answers.", SourceTraceIDs: []string{"tr-1"}}},
		Examples:   []judge.Example{{TraceID: "tr-1", Outputs: "It depends.", Value: "no", Embedding: []float32{0.25, -0.5}}},
		Retrieval:  judge.Retrieval{K: 1, Embedder: "openai:/text-embedding-3-small@2", Dimensions: 2},
	}
	req := pluginapi.AlignRequest{
		Judge: j,
		Examples: []judge.Example{{TraceID: "tr-2", Outputs: "Yes, on the Pro plan.", Value: "yes", Rationale: "specific",
			FeedbackTime: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}},
		Skipped:     []pluginapi.Skip{{TraceID: "tr-3", Reason: "missing outputs"}},
		Config:      map[string]any{"k": float64(3)},
		Models:      []pluginapi.Model{{Name: "reflection", Kind: pluginapi.ChatModel}, {Name: "embedding", Kind: pluginapi.EmbedModel, Dimensions: 512}},
		JudgeModels: []string{"openai:/gpt-4.1"},
		Seed:        42,
		Budget:      pluginapi.Budget{ModelCalls: 10, Tokens: 1000, WallTimeMS: 60000},
		Traces:      []json.RawMessage{json.RawMessage(`{"info":{"trace_id":"tr-2"}}`)},
	}
	data, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"judge":`, `"examples":`, `"skipped":`, `"config":`, `"models":`, `"judge_models":`, `"seed":42`,
		`"budget":{"model_calls":10,"tokens":1000,"wall_time_ms":60000}`, `"traces":`, `"feedback_time":"2026-03-04T05:06:07Z"`,
		`"kind":"embed","dimensions":512`} {
		if !strings.Contains(string(data), key) {
			t.Errorf("request JSON lacks %s:\n%s", key, data)
		}
	}
	var back pluginapi.AlignRequest
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, req) {
		t.Errorf("round trip changed the request:\n got %+v\nwant %+v", back, req)
	}
	if back.ConfigInt("k", 0) != 3 || back.ConfigInt("missing", 9) != 9 || back.ConfigBool("k", true) != true ||
		back.ConfigString("k", "fallback") != "fallback" || back.ConfigFloat("k", 0) != 3 {
		t.Error("config helpers misread the configuration")
	}
	if m, ok := back.Model("embedding"); !ok || m.Dimensions != 512 {
		t.Errorf("Model(embedding) = %+v, %v", m, ok)
	}
}

func TestDecodeReplies(t *testing.T) {
	t.Run("error object", func(t *testing.T) {
		for _, decode := range []func([]byte) error{
			func(b []byte) error { _, err := pluginapi.DecodeDescription(b); return err },
			func(b []byte) error { _, err := pluginapi.DecodeAlignResponse(b); return err },
			func(b []byte) error { _, err := pluginapi.DecodeChatResponse(b); return err },
			func(b []byte) error { _, err := pluginapi.DecodeEmbedResponse(b); return err },
			func(b []byte) error { _, err := pluginapi.DecodeEvaluateResponse(b); return err },
		} {
			err := decode(pluginapi.EncodeError(pluginapi.CodeUnknownModel, `no model named "gpt"`))
			var pe *pluginapi.Error
			if !errors.As(err, &pe) || pe.Code != pluginapi.CodeUnknownModel || err.Error() != `unknown_model: no model named "gpt"` {
				t.Errorf("decode = %v", err)
			}
		}
	})
	t.Run("null error is no error", func(t *testing.T) {
		d, err := pluginapi.DecodeDescription([]byte(`{"name":"x","version":"1","error":null,"future_field":true}`))
		if err != nil || d.Name != "x" {
			t.Errorf("decode = %+v, %v", d, err)
		}
	})
	t.Run("align response", func(t *testing.T) {
		r, err := pluginapi.DecodeAlignResponse([]byte(`{"judge":{"name":"j","instructions":"{{ inputs }}","type":"integer",
			"memory":{"examples":[{"trace_id":"t","value":4}],"retrieval":{"k":1}}},"report":{"summary":"ok","counts":{"n":1}}}`))
		if err != nil {
			t.Fatal(err)
		}
		if v := r.Judge.Memory.Examples[0].Value; v != int64(4) {
			t.Errorf("memory example value = %#v, want int64(4) as judge decoding normalises it", v)
		}
		if r.Report.Summary != "ok" || r.Report.Counts["n"] != 1 {
			t.Errorf("report = %+v", r.Report)
		}
	})
	t.Run("malformed", func(t *testing.T) {
		var pe *pluginapi.Error
		if _, err := pluginapi.DecodeAlignResponse([]byte(`{"judge":`)); err == nil || errors.As(err, &pe) {
			t.Errorf("decode = %v, want a JSON error", err)
		}
	})
}

func TestAgreement(t *testing.T) {
	agree, judged := pluginapi.Agreement([]pluginapi.Judgement{{Agree: true}, {Agree: false}, {Error: "timeout"}, {Agree: true}})
	if agree != 2 || judged != 3 {
		t.Errorf("Agreement = %d of %d, want 2 of 3", agree, judged)
	}
}

type nopOptimizer struct{}

func (nopOptimizer) Describe() pluginapi.Description {
	return pluginapi.Description{Name: "nop", Version: "1"}
}
func (nopOptimizer) Align(_ context.Context, _ pluginapi.Host, r *pluginapi.AlignRequest) (*pluginapi.AlignResponse, error) {
	return &pluginapi.AlignResponse{Judge: r.Judge}, nil
}

func TestRegister(t *testing.T) {
	if pluginapi.Registered() != nil {
		t.Fatal("an optimizer is registered before Register")
	}
	if !pluginapi.Register(nopOptimizer{}) {
		t.Fatal("Register returned false")
	}
	if _, ok := pluginapi.Registered().(nopOptimizer); !ok {
		t.Errorf("Registered() = %T", pluginapi.Registered())
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "already registered") {
			t.Errorf("a second Register did not panic: %v", r)
		}
	}()
	pluginapi.Register(nopOptimizer{})
}

// FuzzDecode feeds arbitrary bytes to the decoders the host and the SDK
// apply to what crosses the boundary: none may panic, and an align
// response that decodes must survive a second round trip.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"judge":{"name":"j","instructions":"{{ inputs }}","memory":{"examples":[{"trace_id":"t","value":1}]}},"report":{}}`))
	f.Add([]byte(`{"error":{"code":"optimizer","message":"no"}}`))
	f.Add([]byte(`{"name":"x","version":"1","config":[{"key":"k","type":"integer","default":3}]}`))
	f.Add([]byte(`{"results":[{"content":"hi","usage":{"prompt_tokens":1}}]}`))
	f.Add([]byte(`{"vectors":[[0.5,-1e-3]],"embedder":"e@2"}`))
	f.Add([]byte(`{"error":null,"results":[{"trace_id":"t","value":{"a":[1,2]},"agree":true}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if d, err := pluginapi.DecodeDescription(data); err == nil {
			_ = d.Validate()
		}
		_, _ = pluginapi.DecodeChatResponse(data)
		_, _ = pluginapi.DecodeEmbedResponse(data)
		_, _ = pluginapi.DecodeEvaluateResponse(data)
		r, err := pluginapi.DecodeAlignResponse(data)
		if err != nil || r.Judge == nil {
			return
		}
		again, err := json.Marshal(r)
		if err != nil {
			return // a value JSON cannot encode (NaN cannot arrive as JSON, but a huge number may overflow)
		}
		if _, err := pluginapi.DecodeAlignResponse(again); err != nil {
			t.Errorf("re-decoding %s: %v", again, err)
		}
	})
}
