package llmsim

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// The limits policy is the one whose knowledge is numbers: the simulated
// judge knows a plan's figure only when a text of the prompt states it
// (a guideline, or an example's rationale), and checks the figures a reply
// quotes against those it knows. A figure nobody taught is never checked.

// Kinds of figure.
const (
	kindRate         = "rate"          // API requests per minute
	kindRecovery     = "recovery"      // days deleted files can be recovered
	kindMonthlyPrice = "monthly price" // dollars per user per month
	kindAnnualPrice  = "annual price"  // dollars per user per year
)

var kinds = []string{kindRate, kindRecovery, kindMonthlyPrice, kindAnnualPrice}

// figures are what the judge knows: plan → kind → value.
type figures map[string]map[string]float64

func (f figures) get(plan, kind string) (float64, bool) {
	v, ok := f[plan][kind]
	return v, ok
}

// learn records a figure unless the plan's figure of that kind is already
// known: the first statement wins.
func (f figures) learn(c claim) {
	if f[c.plan] == nil {
		f[c.plan] = map[string]float64{}
	}
	if _, ok := f[c.plan][c.kind]; !ok {
		f[c.plan][c.kind] = c.value
	}
}

// claim is one figure a text states for a plan.
type claim struct {
	plan     string
	kind     string
	value    float64
	number   string // as written
	sentence string
}

var (
	planName   = regexp.MustCompile(`\b(Free|Team|Enterprise)\b`)
	azureApp   = regexp.MustCompile(`(?i)^enterprise (app|application)`)
	rateClaim  = regexp.MustCompile(`(?i)\b(\d{1,3}(?:,\d{3})+|\d+)\s*(?:api\s+)?(?:requests?|calls?)?\s*(?:per|a|/)\s*min(?:ute)?\b`)
	dayClaim   = regexp.MustCompile(`(?i)\b(\d+)[ -]days?\b`)
	priceClaim = regexp.MustCompile(`(?i)\$(\d+(?:\.\d+)?)\s*(?:per|a|/)\s*user\s*(?:per|a|/)\s*(month|year)`)
	// bareFigure is a number bound to a plan by its words: "3,000 on
	// Enterprise", "600 for the Team plan", "3,000 is Enterprise".
	bareFigure   = regexp.MustCompile(`\b(\d{1,3}(?:,\d{3})+|\d{2,})\s+(?:on|for|is|in)\s+(?:the\s+)?(Free|Team|Enterprise)\b`)
	retentionCue = regexp.MustCompile(`(?i)\b(trash|recover\w*|restor\w*|deleted[ -](files?|folders?)|keeps? deleted|kept|purged)\b`)
	rateCue      = regexp.MustCompile(`(?i)\b(api|rate|requests|per minute|retry|429s?)\b`)
	// notThisOne precedes a number that is not the claim: "not 90",
	// "instead of 30".
	notThisOne = regexp.MustCompile(`(?i)\b(not|instead of|rather than|than)\s*\$?$`)
	// hedge precedes a number that is advice, not a fact: "a token bucket
	// at about 2,800 requests per minute".
	hedge = regexp.MustCompile(`(?i)\b(about|around|roughly|approximately|say|e\.g\.)\s*\$?$`)
)

// claims returns the figures text states. Each is bound to the plan its
// words give ("3,000 on Enterprise"), else to the plan named nearest
// before it in its sentence, else after it. In a reply (reply true) a
// figure whose sentence names no plan belongs to the plan the reply named
// last, else to fallback, the customer's plan; in a teaching text it is
// left out. Hedged figures ("about 2,800") and rejected ones ("not 90")
// are left out.
func claims(text, fallback string, reply bool) []claim {
	var out []claim
	last := fallback
	for _, s := range sentences(text) {
		mentions := planMentions(s)
		bind := func(at int) string {
			best, bestAt := "", -1
			for _, pm := range mentions {
				if pm.at <= at && pm.at > bestAt {
					best, bestAt = pm.plan, pm.at
				}
			}
			if best == "" && len(mentions) > 0 {
				best = mentions[0].plan
			}
			if best == "" && reply {
				best = last
			}
			return best
		}
		add := func(kind, number string, at int, plan string) {
			before := s[:at]
			if notThisOne.MatchString(before) || hedge.MatchString(before) {
				return
			}
			if plan == "" {
				plan = bind(at)
			}
			if plan == "" {
				return
			}
			v, err := strconv.ParseFloat(strings.ReplaceAll(number, ",", ""), 64)
			if err != nil {
				return
			}
			out = append(out, claim{plan: plan, kind: kind, value: v, number: number, sentence: s})
		}
		bound := map[int]bool{}
		for _, m := range bareFigure.FindAllStringSubmatchIndex(s, -1) {
			var kind string
			switch rate, days := rateCue.MatchString(s), retentionCue.MatchString(s); {
			case rate && !days:
				kind = kindRate
			case days && !rate:
				kind = kindRecovery
			default:
				continue
			}
			bound[m[2]] = true
			add(kind, s[m[2]:m[3]], m[2], s[m[4]:m[5]])
		}
		for _, m := range rateClaim.FindAllStringSubmatchIndex(s, -1) {
			if !bound[m[2]] {
				add(kindRate, s[m[2]:m[3]], m[2], "")
			}
		}
		if retentionCue.MatchString(s) {
			for _, m := range dayClaim.FindAllStringSubmatchIndex(s, -1) {
				if !bound[m[2]] {
					add(kindRecovery, s[m[2]:m[3]], m[2], "")
				}
			}
		}
		for _, m := range priceClaim.FindAllStringSubmatchIndex(s, -1) {
			kind := kindMonthlyPrice
			if strings.EqualFold(s[m[4]:m[5]], "year") {
				kind = kindAnnualPrice
			}
			// "$" precedes the number: look behind it for hedges.
			add(kind, s[m[2]:m[3]], m[0], "")
		}
		if len(mentions) > 0 {
			last = mentions[len(mentions)-1].plan
		}
	}
	return out
}

type planMention struct {
	plan string
	at   int
}

// planMentions finds plan names in a sentence, capitalised as the product
// writes them; Azure's "Enterprise Application" is not a plan.
func planMentions(s string) []planMention {
	var out []planMention
	for _, loc := range planName.FindAllStringIndex(s, -1) {
		if azureApp.MatchString(s[loc[0]:]) {
			continue
		}
		out = append(out, planMention{plan: s[loc[0]:loc[1]], at: loc[0]})
	}
	return out
}

// learnFigures returns the figures the texts teach, the first statement of
// each winning.
func learnFigures(texts []string) figures {
	f := figures{}
	for _, t := range texts {
		for _, c := range claims(t, "", false) {
			f.learn(c)
		}
	}
	return f
}

// limitsBreach checks the figures a reply quotes against the known ones.
// A quoted figure that differs from the known figure of its plan is a
// breach; for a rate or a recovery window the breach is worded as the
// mix-up the leads warn about when the figure is another plan's.
func limitsBreach(m *material, known figures) string {
	for _, c := range claims(m.answer, m.plan, true) {
		want, ok := known.get(c.plan, c.kind)
		if !ok || want == c.value {
			continue
		}
		truth := fmt.Sprintf("%s has %s", c.plan, describeFigure(c.kind, want))
		for _, other := range plans {
			if v, ok := known.get(other, c.kind); ok && other != c.plan && v == c.value {
				truth = fmt.Sprintf("that is the %s plan's figure; %s", other, truth)
				break
			}
		}
		return fmt.Sprintf("The reply states %s for the %s plan (%q), but %s. A confident wrong figure misleads the customer, so it is not ready to send.",
			describeFigure(c.kind, c.value), c.plan, quote(c.sentence, 120), truth)
	}
	return ""
}

// describeFigure writes a figure with its unit: "3,000 API requests per
// minute", "90 days to recover deleted files", "$12 per user per month".
func describeFigure(kind string, v float64) string {
	switch kind {
	case kindRate:
		return thousands(v) + " API requests per minute"
	case kindRecovery:
		return thousands(v) + " days to recover deleted files"
	case kindMonthlyPrice:
		return "$" + thousands(v) + " per user per month"
	case kindAnnualPrice:
		return "$" + thousands(v) + " per user per year"
	}
	return thousands(v)
}

// thousands writes v with comma thousands separators, and decimals only
// when it has them.
func thousands(v float64) string {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	whole, frac, _ := strings.Cut(s, ".")
	for i := len(whole) - 3; i > 0; i -= 3 {
		whole = whole[:i] + "," + whole[i:]
	}
	if frac != "" {
		return whole + "." + frac
	}
	return whole
}

// limitsGuideline writes the limits guideline from the figures the
// sources state, plan by plan in table order; without figures it states
// the rule alone.
func limitsGuideline(sources []string) string {
	known := learnFigures(sources)
	var parts []string
	for _, plan := range plans {
		var fs []string
		for _, k := range kinds {
			if v, ok := known.get(plan, k); ok {
				fs = append(fs, describeFigure(k, v))
			}
		}
		if len(fs) > 0 {
			parts = append(parts, plan+": "+strings.Join(fs, ", "))
		}
	}
	rule := "Prices, API rate limits and deleted-file recovery windows must be quoted exactly for the customer's plan"
	if len(parts) > 0 {
		rule += " (" + strings.Join(parts, "; ") + ")"
	}
	return rule + "; a confident wrong figure fails."
}
