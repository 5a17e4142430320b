package judge

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Forget removes from the memory every example whose trace ID is in
// traceIDs and the contribution of those traces to the guidelines, the way
// unalignment does:
//
//   - a guideline written by a person (no SourceTraceIDs) is always kept;
//   - a distilled guideline keeps only its sources that survive, and is
//     dropped when none does.
//
// No guideline is rewritten: a guideline learnt from several examples stays
// while any of them is remembered. Forget returns how many examples and how
// many guidelines it removed. A nil memory forgets nothing.
func (m *Memory) Forget(traceIDs ...string) (examples, guidelines int) {
	if m == nil || len(traceIDs) == 0 {
		return 0, 0
	}
	gone := make(map[string]bool, len(traceIDs))
	for _, id := range traceIDs {
		gone[id] = true
	}

	kept := m.Examples[:0]
	for _, ex := range m.Examples {
		if gone[ex.TraceID] {
			examples++
			continue
		}
		kept = append(kept, ex)
	}
	clear(m.Examples[len(kept):])
	m.Examples = kept

	keptGuidelines := m.Guidelines[:0]
	for _, g := range m.Guidelines {
		if len(g.SourceTraceIDs) == 0 {
			keptGuidelines = append(keptGuidelines, g)
			continue
		}
		var sources []string
		for _, id := range g.SourceTraceIDs {
			if !gone[id] {
				sources = append(sources, id)
			}
		}
		if len(sources) == 0 {
			guidelines++
			continue
		}
		g.SourceTraceIDs = sources
		keptGuidelines = append(keptGuidelines, g)
	}
	clear(m.Guidelines[len(keptGuidelines):])
	m.Guidelines = keptGuidelines
	if len(m.Examples) == 0 {
		m.Examples = nil
	}
	if len(m.Guidelines) == 0 {
		m.Guidelines = nil
	}
	return examples, guidelines
}

// FeedbackFingerprint identifies the human feedback an example carries: its
// trace ID, value, rationale and feedback time, hashed with SHA-256 (hex).
// Two examples with the same fingerprint teach the same thing, so
// incremental alignment skips an example whose stored fingerprint matches.
//
// The value is compared as JSON, so 4, 4.0 and int64(4) are the same value;
// normalise values to the judge's value type first (stored examples are
// normalised when a judge is decoded). The feedback time is compared as an
// instant, whatever its location. The example's input fields and embedding
// do not count.
func (e *Example) FeedbackFingerprint() string {
	value, err := json.Marshal(e.Value)
	if err != nil {
		value = fmt.Appendf(nil, "%#v", e.Value)
	}
	var at string
	if !e.FeedbackTime.IsZero() {
		at = e.FeedbackTime.UTC().Format(time.RFC3339Nano)
	}
	payload, err := json.Marshal([]string{e.TraceID, string(value), e.Rationale, at})
	if err != nil {
		// A slice of strings always encodes.
		panic(fmt.Sprintf("judge: encode fingerprint: %v", err))
	}
	sum := sha256.Sum256(payload)
	return hex.EncodeToString(sum[:])
}

// Fingerprints returns the [Example.FeedbackFingerprint] of every stored
// example, by trace ID. When two examples share a trace ID, the later one
// counts. A nil memory has none.
func (m *Memory) Fingerprints() map[string]string {
	if m == nil {
		return map[string]string{}
	}
	out := make(map[string]string, len(m.Examples))
	for i := range m.Examples {
		out[m.Examples[i].TraceID] = m.Examples[i].FeedbackFingerprint()
	}
	return out
}
