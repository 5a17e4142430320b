package trace_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alignhost/alignhost/trace"
)

// row is what a test expects of one feedback row.
type row struct {
	line      int
	traceID   string
	value     any
	rationale string
	sourceID  string
	time      string // RFC 3339, "" for none
	err       string // substring of the row's error
}

func checkRows(t *testing.T, got []trace.FeedbackRow, want []row) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Line != w.line {
			t.Errorf("row %d: Line = %d, want %d", i, g.Line, w.line)
		}
		if w.err != "" {
			if g.Err == nil || !strings.Contains(g.Err.Error(), w.err) {
				t.Errorf("row %d: error %v, want %q", i, g.Err, w.err)
			}
			if g.Value != nil {
				t.Errorf("row %d: a bad row carries a value %v", i, g.Value)
			}
			continue
		}
		if g.Err != nil {
			t.Errorf("row %d: unexpected error %v", i, g.Err)
			continue
		}
		var wantTime time.Time
		if w.time != "" {
			wantTime, _ = time.Parse(time.RFC3339, w.time)
		}
		if g.TraceID != w.traceID || !reflect.DeepEqual(g.Value, w.value) || g.Rationale != w.rationale ||
			g.SourceID != w.sourceID || !g.Time.Equal(wantTime) {
			t.Errorf("row %d = %+v\nwant %+v", i, g, w)
		}
	}
}

func TestReadFeedbackFixtures(t *testing.T) {
	tests := []struct {
		file string
		want []row
	}{
		{"labels.csv", []row{
			{line: 2, traceID: "support-1", value: "no", rationale: "SSO users cannot use that link, so the answer is incomplete.",
				sourceID: "expert@example.com", time: "2025-06-02T09:00:00Z"},
			{line: 3, traceID: "support-2", value: "yes", time: "2025-06-02T00:00:00Z"},
			{line: 4, traceID: "tr-7f1a2b3c4d5e6f708192a3b4c5d6e7f8", value: "TRUE", rationale: "Multi-line\nrationale", sourceID: "reviewer"},
		}},
		{"labels.jsonl", []row{
			{line: 1, traceID: "support-1", value: "no", rationale: "SSO users cannot use that link.", sourceID: "expert@example.com", time: "2025-06-02T09:00:00Z"},
			{line: 2, traceID: "support-2", value: true},
			{line: 3, traceID: "support-3", value: json.Number("4"), time: "2025-06-02T09:00:00Z"},
			{line: 4, traceID: "support-4", value: map[string]any{"score": json.Number("2"), "labels": []any{"rude"}}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join(fixtures, "feedback", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := trace.ReadFeedback(f, tc.file)
			if err != nil {
				t.Fatal(err)
			}
			checkRows(t, got, tc.want)
		})
	}
}

func TestReadFeedbackCSVBadRows(t *testing.T) {
	input := "\xef\xbb\xbfTrace_ID, Value ,rationale,create_time,extra\n" + // 1: BOM, odd spelling, extra column
		"t1,4,fine,,x\n" + // 2
		",yes,no id,,\n" + // 3
		"t3,  ,no value,,\n" + // 4
		"t4,yes,\"bad \"quote,,\n" + // 5
		"t5,yes\n" + // 6: too few fields
		"t6,yes,,tomorrow,\n" + // 7
		"t7,false,\"spans\n\nlines\",2025-06-01 10:00:00,\n" + // 8-10
		"t8,1.0,,1748779200000,\n" // 11
	got, err := trace.ReadFeedback(strings.NewReader(input), "labels.csv")
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, got, []row{
		{line: 2, traceID: "t1", value: "4", rationale: "fine"},
		{line: 3, err: "labels.csv line 3: no trace_id"},
		{line: 4, err: "labels.csv line 4: no value for trace t3"},
		{line: 5, err: `labels.csv line 5: extraneous or missing " in quoted-field (column 13)`},
		{line: 6, err: "labels.csv line 6: has 2 fields, the header has 5"},
		{line: 7, err: `labels.csv line 7: create_time: "tomorrow" is not a time`},
		{line: 8, traceID: "t7", value: "false", rationale: "spans\n\nlines", time: "2025-06-01T10:00:00Z"},
		{line: 11, err: "write times as RFC 3339"},
	})
	var le *trace.LineError
	if !errors.As(got[1].Err, &le) || le.Line != 3 || le.Source != "labels.csv" {
		t.Errorf("row error %#v is not a *LineError at labels.csv line 3", got[1].Err)
	}
}

func TestReadFeedbackJSONLBadRows(t *testing.T) {
	input := `{"trace_id": "t1", "value": "yes", "rationale": "ok"}` + "\n" + // 1
		`{"trace_id": "t2", "value": }` + "\n" + // 2
		"\n" + // 3
		`{"value": "yes"}` + "\n" + // 4
		`{"trace_id": "t5"}` + "\n" + // 5
		`{"trace_id": "t6", "value": null}` + "\n" + // 6
		`["t7", "yes"]` + "\n" + // 7
		`{"trace_id": 8, "value": "yes"}` + "\n" + // 8
		`{"trace_id": "t9", "value": 1e400}` + "\n" + // 9: kept exactly
		`{"trace_id": "t10", "value": "no", "create_time": true}` // 10, no final newline
	got, err := trace.ReadFeedback(strings.NewReader(input), "labels.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, got, []row{
		{line: 1, traceID: "t1", value: "yes", rationale: "ok"},
		{line: 2, err: "labels.jsonl line 2: invalid character '}' looking for beginning of value (column 29)"},
		{line: 4, err: "labels.jsonl line 4: no trace_id"},
		{line: 5, err: "labels.jsonl line 5: no value for trace t5"},
		{line: 6, err: "no value for trace t6"},
		{line: 7, err: "labels.jsonl line 7: got an array, want an object"},
		{line: 8, err: "labels.jsonl line 8: trace_id: got a number, want a string"},
		{line: 9, traceID: "t9", value: json.Number("1e400")},
		{line: 10, err: "create_time: got a boolean"},
	})
}

func TestReadFeedbackFormats(t *testing.T) {
	tests := []struct {
		name, file, input string
		want              []row
		wantErr           string
	}{
		{"sniffed JSON Lines", "labels", "\n" + `{"trace_id":"t","value":1}`, []row{{line: 2, traceID: "t", value: json.Number("1")}}, ""},
		{"sniffed CSV", "labels.txt", "trace_id,value\nt,1\n", []row{{line: 2, traceID: "t", value: "1"}}, ""},
		{"header without value", "labels.csv", "trace_id,label\nt,yes\n", nil, `labels.csv line 1: header has no "value" column`},
		{"empty CSV", "labels.csv", "", nil, ""},
		{"empty JSON Lines", "labels.jsonl", "", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := trace.ReadFeedback(strings.NewReader(tc.input), tc.file)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkRows(t, got, tc.want)
		})
	}
}
