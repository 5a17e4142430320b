package memalign

import (
	"cmp"
	"slices"
	"strings"
	"unicode"

	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/vector"
)

// normalizeText reduces a guideline to what its wording means for
// duplicate detection: lower case, apostrophes dropped, other punctuation
// and symbols as spaces, runs of space as one.
func normalizeText(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r == '\'' || r == '’' || r == '`':
		case unicode.IsPunct(r) || unicode.IsSymbol(r) || unicode.IsSpace(r):
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// merger folds candidate guidelines into a judge's guidelines without
// repeating any: a candidate that matches a guideline (exact or normalised
// text, or similar embedding) is merged into it, adding its sources; the
// others are appended in order.
type merger struct {
	list     []judge.Guideline
	existing int            // list[:existing] were there before this alignment
	norms    map[string]int // normalised text → position in list or pending
	pending  []candidate    // accepted by text, awaiting the embedding check
	merged   int
}

func newMerger(existing []judge.Guideline) *merger {
	m := &merger{list: existing, existing: len(existing), norms: make(map[string]int, len(existing))}
	for i, g := range existing {
		n := normalizeText(g.Text)
		if _, ok := m.norms[n]; !ok {
			m.norms[n] = i
		}
	}
	return m
}

// byText merges each candidate whose normalised text matches an existing
// guideline or an earlier candidate, and keeps the others pending.
func (m *merger) byText(cands []candidate) {
	for _, c := range cands {
		n := normalizeText(c.text)
		if n == "" {
			continue
		}
		if i, ok := m.norms[n]; ok {
			if i < m.existing {
				m.list[i] = withSources(m.list[i], c.sources)
			} else {
				p := &m.pending[i-m.existing]
				p.sources = union(p.sources, c.sources)
			}
			m.merged++
			continue
		}
		m.norms[n] = m.existing + len(m.pending)
		m.pending = append(m.pending, c)
	}
}

// pendingTexts returns the texts of the pending candidates.
func (m *merger) pendingTexts() []string {
	texts := make([]string, len(m.pending))
	for i, c := range m.pending {
		texts[i] = c.text
	}
	return texts
}

// existingTexts returns the texts of the guidelines that were there before.
func (m *merger) existingTexts() []string {
	texts := make([]string, m.existing)
	for i, g := range m.list[:m.existing] {
		texts[i] = g.Text
	}
	return texts
}

// byVector appends the pending candidates, merging each whose vector has a
// cosine similarity of at least threshold with an existing guideline or an
// earlier accepted candidate into the most similar one (the earliest on a
// tie). vecs holds the vectors of the existing guidelines then of the
// pending candidates; nil accepts every pending candidate as it is.
func (m *merger) byVector(vecs [][]float32, threshold float64) {
	var kept [][]float32
	if vecs != nil {
		kept = append(kept, vecs[:m.existing]...)
	}
	for i, c := range m.pending {
		if vecs != nil {
			v := vecs[m.existing+i]
			best, bestScore := -1, float32(0)
			for j, k := range kept {
				if s := vector.Cosine(v, k); float64(s) >= threshold && (best < 0 || s > bestScore) {
					best, bestScore = j, s
				}
			}
			if best >= 0 {
				m.list[best] = withSources(m.list[best], c.sources)
				m.merged++
				continue
			}
			kept = append(kept, v)
		}
		m.list = append(m.list, judge.Guideline{Text: c.text, SourceTraceIDs: c.sources})
	}
	m.pending = nil
}

// withSources adds sources to a distilled guideline. A guideline written by
// a person stays without sources, so that unalignment never removes it.
func withSources(g judge.Guideline, sources []string) judge.Guideline {
	if len(g.SourceTraceIDs) == 0 {
		return g
	}
	g.SourceTraceIDs = union(g.SourceTraceIDs, sources)
	return g
}

// union returns a followed by the elements of b not in a, without changing
// a's backing array.
func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// capGuidelines keeps at most limit guidelines: every guideline written by
// a person, then the distilled ones learnt from the most examples (the
// earlier on a tie), in their original order. It returns the kept
// guidelines and, for each guideline of list, whether it was kept.
func capGuidelines(list []judge.Guideline, limit int) ([]judge.Guideline, []bool) {
	keep := make([]bool, len(list))
	if limit <= 0 || len(list) <= limit {
		for i := range keep {
			keep[i] = true
		}
		return list, keep
	}
	var distilled []int
	people := 0
	for i, g := range list {
		if len(g.SourceTraceIDs) == 0 {
			people++
			keep[i] = true
		} else {
			distilled = append(distilled, i)
		}
	}
	slices.SortStableFunc(distilled, func(a, b int) int {
		return cmp.Compare(len(list[b].SourceTraceIDs), len(list[a].SourceTraceIDs))
	})
	for _, i := range distilled[:min(max(0, limit-people), len(distilled))] {
		keep[i] = true
	}
	var out []judge.Guideline
	for i, g := range list {
		if keep[i] {
			out = append(out, g)
		}
	}
	return out, keep
}
