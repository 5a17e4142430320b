package memalign

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/pluginapi"
)

func TestMapIDs(t *testing.T) {
	batch := []string{"tr-a", "tr-b", "7", "tr-d"}
	tests := []struct {
		name string
		ids  []any
		want []string
	}{
		{"integer indices", []any{json.Number("0"), json.Number("3")}, []string{"tr-a", "tr-d"}},
		{"whole float index", []any{json.Number("1.0"), 2.0}, []string{"tr-b", "7"}},
		{"numeric strings", []any{"1", " 0 "}, []string{"tr-b", "tr-a"}},
		{"literal trace IDs", []any{"tr-d", "tr-a"}, []string{"tr-d", "tr-a"}},
		{"a trace ID that looks like a number wins over the index", []any{"7"}, []string{"7"}},
		{"unknown and out of range dropped", []any{"tr-zzz", json.Number("4"), json.Number("-1"), json.Number("1.5"), true, nil}, nil},
		{"repeats collapse, first order kept", []any{json.Number("1"), "tr-b", "1", json.Number("0")}, []string{"tr-b", "tr-a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mapIDs(tt.ids, batch); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("mapIDs(%v) = %v, want %v", tt.ids, got, tt.want)
			}
		})
	}
}

func TestParseGuidelines(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    []string // text|ids as JSON
		wantErr string
	}{
		{"strict", `{"guidelines":[{"guideline_text":"Cite the policy.","source_trace_ids":[0,2]}]}`,
			[]string{`Cite the policy.|["0","2"]`}, ""},
		{"fenced with prose", "Here you go:\n```json\n{\"guidelines\":[{\"guideline_text\":\"A.\",\"source_trace_ids\":[1]}]}\n```\nDone.",
			[]string{`A.|["1"]`}, ""},
		{"surrounded by prose", `Sure! {"guidelines":[{"text":"B.","source_ids":"tr-1"}]} Hope it helps.`,
			[]string{`B.|["tr-1"]`}, ""},
		{"bare array, non-objects skipped", `[{"guideline":"C.","source_trace_ids":["0"]}, "stray", 3]`,
			[]string{`C.|["0"]`}, ""},
		{"empty list", `{"guidelines": []}`, nil, ""},
		{"null list", `{"guidelines": null}`, nil, ""},
		{"missing ids kept for the caller to drop", `{"guidelines":[{"guideline_text":"D."}]}`, []string{`D.|null`}, ""},
		{"not JSON", `I cannot help with that.`, nil, "not JSON"},
		{"empty", "  ", nil, "empty"},
		{"wrong shape", `{"rules": []}`, nil, `no "guidelines"`},
		{"list of the wrong type", `{"guidelines": "A."}`, nil, "not a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseGuidelines(tt.content)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var flat []string
			for _, g := range got {
				ids := make([]string, len(g.ids))
				for i, id := range g.ids {
					ids[i] = strings.Trim(strings.TrimSpace(jsonText(id)), `"`)
				}
				if g.ids == nil {
					ids = nil
				}
				b, _ := json.Marshal(ids)
				flat = append(flat, g.text+"|"+string(b))
			}
			if !reflect.DeepEqual(flat, tt.want) {
				t.Errorf("got %v, want %v", flat, tt.want)
			}
		})
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestReadAnswerRejectsUnsourcedAndEmpty(t *testing.T) {
	b := &batch{examples: []*judge.Example{{TraceID: "tr-1"}, {TraceID: "tr-2"}}}
	res := pluginapi.ChatResult{Content: `{"guidelines":[
		{"guideline_text":"  Keep   it short. ","source_trace_ids":[1]},
		{"guideline_text":"No source.","source_trace_ids":[9]},
		{"guideline_text":"","source_trace_ids":[0]},
		{"guideline_text":"From both.","source_trace_ids":["tr-1",1]}]}`}
	o := readAnswer(res, b)
	if o.err != nil {
		t.Fatal(o.err)
	}
	want := []candidate{{"Keep it short.", []string{"tr-2"}}, {"From both.", []string{"tr-1", "tr-2"}}}
	if !reflect.DeepEqual(o.candidates, want) || o.rejected != 2 {
		t.Errorf("candidates %v, rejected %d; want %v, 2", o.candidates, o.rejected, want)
	}
	if o := readAnswer(pluginapi.ChatResult{Error: "status 500"}, b); o.err == nil || o.err.Error() != "status 500" {
		t.Errorf("a failed request gave err %v", o.err)
	}
}

func TestPlanBatches(t *testing.T) {
	mk := func(sizes ...int) []*judge.Example {
		var out []*judge.Example
		for i, n := range sizes {
			out = append(out, &judge.Example{TraceID: string(rune('a' + i)), Inputs: strings.Repeat("x", n), Value: "yes"})
		}
		return out
	}
	count := func(bs []batch) []int {
		var n []int
		for _, b := range bs {
			n = append(n, len(b.examples))
		}
		return n
	}
	tests := []struct {
		name                string
		sizes               []int
		base, budget, limit int
		want                []int
	}{
		{"record limit", []int{10, 10, 10, 10, 10}, 0, 1 << 20, 2, []int{2, 2, 1}},
		// Each record costs ⌈(n+len(`{"id":0,"inputs":"","result":"yes","rationale":""}`))/4⌉+1 tokens.
		{"token budget", []int{350, 350, 350, 350}, 100, 310, 50, []int{2, 2}},
		{"oversized record alone", []int{10, 4000, 10}, 0, 500, 50, []int{1, 1, 1}},
		{"oversized first", []int{4000, 10, 10}, 0, 500, 50, []int{1, 2}},
		{"base over budget: one each", []int{10, 10}, 1000, 500, 50, []int{1, 1}},
		{"none", nil, 0, 100, 50, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bs, err := planBatches(mk(tt.sizes...), tt.base, tt.budget, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if got := count(bs); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("batch sizes %v, want %v", got, tt.want)
			}
			for i, b := range bs {
				used := tt.base
				for j, r := range b.records {
					if !strings.HasPrefix(r, `{"id":`+string(rune('0'+j))) {
						t.Errorf("batch %d record %d has the wrong id: %.20s", i, j, r)
					}
					used += tokens(r) + 1
				}
				if len(b.examples) > 1 && used > tt.budget {
					t.Errorf("batch %d uses %d tokens, budget %d", i, used, tt.budget)
				}
			}
		})
	}
}

func TestNormalizeText(t *testing.T) {
	same := [][2]string{
		{"Answers must cite the refund policy.", "answers must cite the refund policy"},
		{"Don't guess; ask!", "dont guess ask"},
		{"Well-known   sources\tonly", "well known sources only"},
		{"“Quoted” — text…", "quoted text"},
	}
	for _, p := range same {
		if a, b := normalizeText(p[0]), normalizeText(p[1]); a != b {
			t.Errorf("normalizeText(%q) = %q, normalizeText(%q) = %q", p[0], a, p[1], b)
		}
	}
	if normalizeText("Cite the policy.") == normalizeText("Cite the policies.") {
		t.Error("different words normalise alike")
	}
	if normalizeText("?!.") != "" {
		t.Error("punctuation-only text is not empty after normalising")
	}
}

func TestCapGuidelines(t *testing.T) {
	list := []judge.Guideline{
		{Text: "one source", SourceTraceIDs: []string{"a"}},
		{Text: "person"},
		{Text: "three sources", SourceTraceIDs: []string{"a", "b", "c"}},
		{Text: "two sources", SourceTraceIDs: []string{"a", "b"}},
		{Text: "one source, later", SourceTraceIDs: []string{"d"}},
	}
	texts := func(gs []judge.Guideline) []string {
		var out []string
		for _, g := range gs {
			out = append(out, g.Text)
		}
		return out
	}
	tests := []struct {
		limit int
		want  []string
	}{
		{0, texts(list)},
		{5, texts(list)},
		{3, []string{"person", "three sources", "two sources"}},
		{4, []string{"one source", "person", "three sources", "two sources"}},
		{1, []string{"person"}},
	}
	for _, tt := range tests {
		got, keep := capGuidelines(list, tt.limit)
		if !reflect.DeepEqual(texts(got), tt.want) {
			t.Errorf("cap %d kept %v, want %v", tt.limit, texts(got), tt.want)
		}
		kept := 0
		for _, k := range keep {
			if k {
				kept++
			}
		}
		if kept != len(got) {
			t.Errorf("cap %d: %d flags kept, %d guidelines", tt.limit, kept, len(got))
		}
	}
}
