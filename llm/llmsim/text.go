package llmsim

import (
	"slices"
	"strings"
	"unicode"
)

// words splits text into lower-cased words: runs of letters and digits,
// with apostrophes kept inside a word ("isn't") and every other character
// a separator ("30-day" is two words).
func words(text string) []string {
	text = strings.ReplaceAll(text, "’", "'")
	var out []string
	var b strings.Builder
	flush := func() {
		w := strings.Trim(b.String(), "'")
		if w != "" {
			out = append(out, w)
		}
		b.Reset()
	}
	for _, r := range strings.ToLower(text) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == '\'' {
			b.WriteRune(r)
			continue
		}
		flush()
	}
	flush()
	return out
}

// wordSet is the set of words of a text.
type wordSet map[string]bool

func newWordSet(text string) wordSet {
	s := wordSet{}
	for _, w := range words(text) {
		s[w] = true
	}
	return s
}

// any reports whether the set holds any of ws.
func (s wordSet) any(ws ...string) bool {
	return slices.ContainsFunc(ws, func(w string) bool { return s[w] })
}

// containsAny reports whether lower-cased text contains any of the
// lower-case phrases.
func containsAny(text string, phrases ...string) bool {
	text = strings.ToLower(strings.ReplaceAll(text, "’", "'"))
	return slices.ContainsFunc(phrases, func(p string) bool { return strings.Contains(text, p) })
}

// stopwords are left out of content-word comparisons.
var stopwords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`a about above after again all also am an and any are as at be because been
		before being below between both but by can could did do does doing down during each few for from further
		had has have having he her here hers herself him himself his how i if in into is it its itself just me
		more most my myself no nor not now of off on once only or other our ours ourselves out over own same she
		should so some such than that the their theirs them themselves then there these they this those through
		to too under until up very was we were what when where which while who whom why will with would you your
		yours yourself yourselves i'm i've i'd we're we've it's that's there's let's can't don't isn't aren't
		won't get got getting any way need needs want wants like one two us yes hi hello thanks thank please
		question plan customer answer`) {
		m[w] = true
	}
	return m
}()

// stem strips the commonest English inflections so that "sharing",
// "shared" and "share" compare equal. It is deliberately crude.
func stem(w string) string {
	w = strings.TrimSuffix(w, "'s")
	for _, suf := range []string{"ing", "ed", "es", "s", "e", "ly"} {
		if len(w)-len(suf) >= 3 && strings.HasSuffix(w, suf) {
			return w[:len(w)-len(suf)]
		}
	}
	return w
}

// contentStems returns the stems of the content words of text: words that
// are not stopwords and have at least three characters, or are numbers.
func contentStems(text string) map[string]bool {
	out := map[string]bool{}
	for _, w := range words(text) {
		if stopwords[w] || strings.Contains(w, "'") {
			continue
		}
		if len(w) < 3 && !isNumber(w) {
			continue
		}
		out[stem(w)] = true
	}
	return out
}

func isNumber(w string) bool {
	return w != "" && strings.IndexFunc(w, func(r rune) bool { return !unicode.IsDigit(r) }) < 0
}

// coverage is the share of the stems of a that also occur in b; 1 when a
// has none.
func coverage(a, b map[string]bool) float64 {
	if len(a) == 0 {
		return 1
	}
	n := 0
	for w := range a {
		if b[w] {
			n++
		}
	}
	return float64(n) / float64(len(a))
}

// jaccard is |a ∩ b| / |a ∪ b|; 0 when both are empty.
func jaccard(a, b map[string]bool) float64 {
	if len(a) == 0 && len(b) == 0 {
		return 0
	}
	inter := 0
	for w := range a {
		if b[w] {
			inter++
		}
	}
	return float64(inter) / float64(len(a)+len(b)-inter)
}

// sentences splits text into sentences: after '.', '!' or '?' followed by
// white space, and at line breaks. Decimal points and "Admin > Billing"
// paths stay inside their sentence.
func sentences(text string) []string {
	var out []string
	rs := []rune(text)
	start := 0
	emit := func(end int) {
		if s := strings.TrimSpace(string(rs[start:end])); s != "" {
			out = append(out, s)
		}
		start = end
	}
	for i, r := range rs {
		switch {
		case r == '\n':
			emit(i + 1)
		case (r == '.' || r == '!' || r == '?') && (i+1 == len(rs) || unicode.IsSpace(rs[i+1])):
			emit(i + 1)
		}
	}
	emit(len(rs))
	return out
}

// negated reports whether a sentence is negative or restrictive: it holds
// "not", "no", "never", "only", "cannot", "unable" or a word ending in
// "n't". It is what keeps "monthly plans aren't refundable" from reading as
// a promise of a refund.
func negated(sentence string) bool {
	for _, w := range words(sentence) {
		switch {
		case w == "not", w == "no", w == "never", w == "only", w == "cannot", w == "unable":
			return true
		case strings.HasSuffix(w, "n't"):
			return true
		}
	}
	return false
}

// quote shortens a sentence for a rationale: at most about n bytes, cut at
// a word boundary, with an ellipsis when cut.
func quote(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	cut := strings.LastIndexByte(s[:n], ' ')
	if cut <= 0 {
		cut = n
		for cut > 0 && s[cut]&0xC0 == 0x80 {
			cut--
		}
	}
	return strings.TrimRight(s[:cut], " ,;:") + "…"
}
