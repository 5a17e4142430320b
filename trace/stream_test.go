package trace_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/alignhost/alignhost/trace"
)

// endlessArray is a JSON array of traces that never ends: a reader that
// needs the whole input before its first record never returns.
type endlessArray struct {
	n   int
	buf []byte
}

func (r *endlessArray) Read(p []byte) (int, error) {
	for len(r.buf) < len(p) {
		if r.n == 0 {
			r.buf = append(r.buf, "[\n"...)
		} else {
			r.buf = append(r.buf, ",\n"...)
		}
		r.n++
		r.buf = append(r.buf, traceJSON("t"+strings.Repeat("x", r.n%7))...)
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func TestReaderStreamsArrays(t *testing.T) {
	src := &endlessArray{}
	rd := trace.NewReader(src, "endless.json")
	for i := range 1000 {
		rec, err := rd.Next()
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if rec.Err != nil {
			t.Fatalf("record %d: %v", i, rec.Err)
		}
		if rec.Line != 2+i {
			t.Fatalf("record %d: line %d, want %d", i, rec.Line, 2+i)
		}
	}
	// It read about what the records needed, not everything there is.
	if src.n > 5000 {
		t.Errorf("reading 1000 records pulled %d from the source", src.n)
	}
}

func TestReaderStreamsDocuments(t *testing.T) {
	input := pretty(t, traceJSON("a")) + "\n" + pretty(t, traceJSON("b")) + "\n"
	rd := trace.NewReader(strings.NewReader(input), "docs.json")
	var ids []string
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rec.Trace.Info.TraceID)
	}
	if strings.Join(ids, ",") != "a,b" {
		t.Errorf("ids = %v", ids)
	}
	// The end is sticky.
	if _, err := rd.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("Next after the end = %v, want io.EOF", err)
	}
}

func TestReaderArrayErrorsAreSticky(t *testing.T) {
	rd := trace.NewReader(strings.NewReader("["+traceJSON("a")+" "+traceJSON("b")+"]"), "x.json")
	if rec, err := rd.Next(); err != nil || rec.Trace == nil {
		t.Fatalf("first record: %v %v", rec, err)
	}
	_, err := rd.Next()
	var le *trace.LineError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "after array element") {
		t.Fatalf("second Next = %v, want a syntax error after the first element", err)
	}
	if _, again := rd.Next(); again != err {
		t.Errorf("Next after an error = %v, want the same error", again)
	}
}

// An invalid trace id is a bad record, not a failure of the whole import
// later (issue 9, defect 11).
func TestReadInvalidTraceIDIsBadRow(t *testing.T) {
	input := `{"trace_id":"good"}` + "\n" +
		`{"trace_id":"has space"}` + "\n" +
		`{"info":{"trace_id":"tab\there","state":"OK"},"data":{"spans":[]}}` + "\n" +
		`{"trace_id":"ok2"}` + "\n"
	got, err := trace.Read(strings.NewReader(input), "ids.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, got, []summary{
		{line: 1, traceID: "good"},
		{line: 2, err: `ids.jsonl line 2: trace id "has space" contains a space or control character`},
		{line: 3, err: `ids.jsonl line 3: trace id "tab\there" contains a space`},
		{line: 4, traceID: "ok2"},
	})
}

// Invalid UTF-8 is refused with its byte offset rather than replaced by
// U+FFFD (issue 9, defect 14).
func TestReadInvalidUTF8IsBadRow(t *testing.T) {
	first := `{"trace_id":"a"}` + "\n"
	input := first + `{"trace_id":"b","inputs":"caf` + "\xe9" + `"}` + "\n" + `{"trace_id":"c"}` + "\n"
	got, err := trace.Read(strings.NewReader(input), "latin1.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	off := len(first) + len(`{"trace_id":"b","inputs":"caf`)
	checkRecords(t, got, []summary{
		{line: 1, traceID: "a"},
		{line: 2, err: "latin1.jsonl line 2: invalid UTF-8 at byte offset " + itoa(off)},
		{line: 3, traceID: "c"},
	})
	if !errors.Is(got[1].Err, trace.ErrInvalidUTF8) {
		t.Errorf("error %v is not ErrInvalidUTF8", got[1].Err)
	}

	// In an array too, and reading goes on.
	arr := "[" + traceJSON("a") + ",\n" + strings.Replace(traceJSON("b"), `"hi`, "\"h\xff", 1) + ",\n" + traceJSON("c") + "]"
	got, err = trace.Read(strings.NewReader(arr), "latin1.json")
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, got, []summary{
		{line: 1, traceID: "a"},
		{line: 2, err: "invalid UTF-8 at byte offset " + itoa(strings.Index(arr, "\xff"))},
		{line: 3, traceID: "c"},
	})
}

func itoa(n int) string { return jsonNumber(n) }

func jsonNumber(n int) string { b, _ := json.Marshal(n); return string(b) }

// Writer writes what Write writes, one trace at a time.
func TestWriterMatchesEncodingJSON(t *testing.T) {
	traces := fixtureTraces(t)
	for _, n := range []int{0, 1, 2, len(traces)} {
		for _, f := range []trace.Format{trace.FormatJSON, trace.FormatMLflow, trace.FormatJSONL} {
			var got bytes.Buffer
			w, err := trace.NewWriter(&got, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, tr := range traces[:n] {
				if err := w.Write(tr); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetEscapeHTML(false)
			var v any = traces[:n]
			switch {
			case f == trace.FormatJSONL:
				for _, tr := range traces[:n] {
					enc.Encode(tr)
				}
				v = nil
			case f == trace.FormatMLflow && n == 1:
				v = traces[0]
			case n == 0:
				v = []*trace.Trace{}
			}
			if v != nil {
				enc.SetIndent("", "  ")
				enc.Encode(v)
			}
			if got.String() != want.String() {
				t.Errorf("%s, %d traces: Writer wrote\n%.300s\nwant\n%.300s", f, n, got.String(), want.String())
			}
		}
	}
}

// A feedback CSV whose last field opens a quote it never closes was a
// panic in csv.Reader.FieldPos (issue 9, defect 3).
func TestReadFeedbackUnclosedQuote(t *testing.T) {
	for _, input := range []string{"trace_id,value\n\"0", "trace_id,value\nt1,yes\nt2,\"no\nt3,yes\n", "\"trace_id"} {
		rows, err := trace.ReadFeedback(strings.NewReader(input), "labels.csv")
		if err != nil {
			var le *trace.LineError
			if !errors.As(err, &le) || le.Source != "labels.csv" {
				t.Errorf("%q: error %v, want a *LineError naming the file", input, err)
			}
			continue
		}
		bad := 0
		for _, r := range rows {
			if r.Err != nil {
				bad++
				if !strings.HasPrefix(r.Err.Error(), "labels.csv line ") {
					t.Errorf("%q: row error %q does not name the file and line", input, r.Err)
				}
			}
		}
		if bad == 0 {
			t.Errorf("%q: no bad row", input)
		}
	}
}

// A Latin-1 feedback file is refused row by row, naming the byte offset
// (issue 9, defect 14).
func TestReadFeedbackLatin1(t *testing.T) {
	head := "trace_id,value,rationale\nt1,yes,fine\n"
	input := head + "t2,no,caf\xe9 cr\xe8me\nt3,yes,ok\n"
	rows, err := trace.ReadFeedback(strings.NewReader(input), "labels.csv")
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, rows, []row{
		{line: 2, traceID: "t1", value: "yes", rationale: "fine"},
		{line: 3, err: "labels.csv line 3: invalid UTF-8 at byte offset " + itoa(len(head)+len("t2,no,caf"))},
		{line: 4, traceID: "t3", value: "yes", rationale: "ok"},
	})
	jsonl := `{"trace_id":"t1","value":"yes"}` + "\n" + `{"trace_id":"t2","value":"caf` + "\xe9" + `"}` + "\n"
	rows, err = trace.ReadFeedback(strings.NewReader(jsonl), "labels.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, rows, []row{
		{line: 1, traceID: "t1", value: "yes"},
		{line: 2, err: "invalid UTF-8 at byte offset " + itoa(strings.Index(jsonl, "\xe9"))},
	})
	// A header in Latin-1 is refused as a whole.
	if _, err := trace.ReadFeedback(strings.NewReader("trace_id,value,r\xe9sum\xe9\n"), "h.csv"); err == nil ||
		!strings.Contains(err.Error(), "byte offset 16") {
		t.Errorf("Latin-1 header: error %v, want the byte offset", err)
	}
}
