package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// printf 'trace_id,value\n"0' | alignhost feedback import panicked in
// csv.Reader.FieldPos (issue 9, defect 3).
func TestFeedbackImportMalformedCSVIsABadRow(t *testing.T) {
	c := newCLI(t)
	c.ok("traces", "import", c.write("traces.jsonl", flatTraces))
	file := c.write("labels.csv", "trace_id,value\n\"0")
	errOut := c.fail(exitFailure, "feedback", "import", file, "--name", "q", "--no-validate")
	if !strings.Contains(errOut, "labels.csv line 2") || strings.Contains(errOut, "goroutine") {
		t.Errorf("stderr %q: want a bad-row error naming the file and line, no stack", errOut)
	}
}

// A Latin-1 feedback file is refused with the byte offset (defect 14).
func TestFeedbackImportLatin1(t *testing.T) {
	c := newCLI(t)
	c.ok("traces", "import", c.write("traces.jsonl", flatTraces))
	head := "trace_id,value,rationale\ntr-00000000000000000000000000000001,yes,ok\n"
	file := c.write("labels.csv", head+"tr-00000000000000000000000000000002,no,caf\xe9\n")
	errOut := c.fail(exitFailure, "feedback", "import", file, "--name", "q", "--no-validate")
	want := "labels.csv line 3: invalid UTF-8 at byte offset 110"
	if len(head)+len("tr-00000000000000000000000000000002,no,caf") != 110 || !strings.Contains(errOut, want) {
		t.Errorf("stderr %q, want %q", errOut, want)
	}
	out := c.ok("feedback", "import", file, "--name", "q", "--no-validate", "--skip-bad-rows")
	if !strings.Contains(out, "recorded 1") || !strings.Contains(out, "1 bad rows skipped") {
		t.Errorf("skip: %q", out)
	}
}

// --skip-bad-rows skipped a malformed row but aborted the whole import on
// an invalid trace id (defect 11); invalid UTF-8 is a bad row too.
func TestTracesImportSkipsInvalidIDsAndUTF8(t *testing.T) {
	c := newCLI(t)
	bad := flatTraces + `{"trace_id": "has space", "inputs": "q"}` + "\n" +
		`{"trace_id": "tr-latin1", "inputs": "caf` + "\xe9" + `"}` + "\n" +
		`{"trace_id": "tr-ok", "inputs": "q"}` + "\n"
	file := c.write("bad.jsonl", bad)
	errOut := c.fail(exitFailure, "traces", "import", file)
	if !strings.Contains(errOut, "2 bad rows") || !strings.Contains(errOut, "bad.jsonl line 4") ||
		!strings.Contains(errOut, "bad.jsonl line 5: invalid UTF-8 at byte offset") {
		t.Errorf("stderr %q: want both bad rows", errOut)
	}
	out := c.ok("traces", "import", file, "--skip-bad-rows")
	if !strings.Contains(out, "4 new") || !strings.Contains(out, "2 bad rows skipped") {
		t.Errorf("skip-bad-rows: %q", out)
	}
}

// traces export -o truncated the target before writing, so a failure lost
// the old file; it now writes a temporary file and renames it, mode 0600
// (defect 11).
func TestTracesExportReplacesTheFileAtomically(t *testing.T) {
	c := newCLI(t)
	c.ok("traces", "import", c.write("traces.jsonl", flatTraces))
	target := c.write("export.jsonl", "old export\n")
	// A second name for the old file: writing in place would change it.
	link := filepath.Join(c.dir, "old-link")
	if err := os.Link(target, link); err != nil {
		t.Skip("no hard links here:", err)
	}
	c.ok("traces", "export", "--format", "jsonl", "-o", target)
	if b, _ := os.ReadFile(link); string(b) != "old export\n" {
		t.Errorf("the old file was written in place: %q", b)
	}
	b, err := os.ReadFile(target)
	if err != nil || strings.Count(string(b), "\n") != 3 {
		t.Fatalf("export: %q (%v)", b, err)
	}
	if fi, err := os.Stat(target); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("export mode = %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	// A failed export (a trace that is not there) leaves the file alone
	// and no temporary file behind.
	c.fail(exitFailure, "traces", "export", "-o", target, "tr-missing")
	if b2, _ := os.ReadFile(target); string(b2) != string(b) {
		t.Errorf("a failed export changed the file")
	}
	entries, _ := os.ReadDir(c.dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".export.jsonl") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}
