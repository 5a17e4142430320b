package llmsim

import (
	"fmt"
	"regexp"
	"strings"
)

// verdict is the simulated judge's answer, in the order the answer format
// asks for: the rationale first.
type verdict struct {
	Rationale string `json:"rationale"`
	Result    string `json:"result"`
}

const (
	yes = "yes"
	no  = "no"
)

// Thresholds of the generic rubric and of imitation.
const (
	// offTopicCoverage: a reply that repeats less than this share of the
	// question's content words — in practice none of them — is off-topic.
	// Short on-topic replies repeat little of a long question (about 10%
	// for a terse incident acknowledgement), so the bar is low.
	offTopicCoverage = 0.05
	// offTopicMinWords: questions with fewer content words are never
	// called off-topic; there is too little to compare.
	offTopicMinWords = 4
	// terseWords: a reply shorter than this many words, with no courtesy
	// at all, is penalised by the generic judge.
	terseWords = 40
	// imitationSimilarity: an example whose question and reply both have
	// at least this Jaccard similarity of content words with the new ones
	// is a near-duplicate, and its expert value is followed.
	imitationSimilarity = 0.6
)

// judgement decides a judge prompt; see the package documentation for the
// procedure.
func judgement(p *judgePrompt) verdict {
	teaching := p.teaching()
	taught := taughtPolicies(teaching)
	known := learnFigures(teaching)
	m := &p.material
	for _, pol := range catalogue() {
		if !taught[pol.name] || pol.breach == nil {
			continue
		}
		if r := pol.breach(m, known); r != "" {
			return verdict{Result: no, Rationale: r}
		}
	}
	if ex := nearDuplicate(p.examples, m); ex != nil {
		return verdict{Result: ex.result, Rationale: imitated(ex)}
	}
	return generic(m, taught[policyTone])
}

// teaching returns the texts of a prompt that can teach a policy: each
// guideline and each example's rationale.
func (p *judgePrompt) teaching() []string {
	texts := append([]string(nil), p.guidelines...)
	for _, ex := range p.examples {
		if ex.rationale != "" {
			texts = append(texts, ex.rationale)
		}
	}
	return texts
}

// nearDuplicate returns the first example, in prompt order (most similar
// first), whose question and reply are both near-duplicates of m's and
// whose result is yes or no; nil when there is none.
func nearDuplicate(examples []example, m *material) *example {
	q, a := contentStems(m.question), contentStems(m.answer)
	for i := range examples {
		ex := &examples[i]
		if ex.result != yes && ex.result != no {
			continue
		}
		if jaccard(q, contentStems(ex.question)) >= imitationSimilarity &&
			jaccard(a, contentStems(ex.answer)) >= imitationSimilarity {
			return ex
		}
	}
	return nil
}

// imitated is the rationale of a judgement that follows a near-duplicate
// example: the expert's reasoning, which applies to the near-identical
// reply, as a model that imitates an example would echo it.
func imitated(ex *example) string {
	if r := strings.TrimSpace(ex.rationale); r != "" {
		if ex.result == yes {
			return r + " The reply is ready to send."
		}
		return r + " The reply is not ready to send."
	}
	if ex.result == yes {
		return "The reply handles this request the way an accepted reply to the same request does. It is ready to send."
	}
	return "The reply handles this request the way a rejected reply to the same request does. It is not ready to send."
}

// rudeness lists phrases that lecture, belittle or blame the customer.
var rudeness = regexp.MustCompile(`(?i)\b(you could have|you should have|before opening a ticket|before contacting|before asking|as it says in|as stated in|as clearly|read the (docs|documentation|manual)|answered in the (docs|documentation|help center)|search there first|we get a lot of these|obviously|rtfm|stupid|not our (problem|fault)|your (own )?fault|that's on you)\b`)

// courtesy lists the markers of a courteous reply.
var courtesy = regexp.MustCompile(`(?i)\b(thanks|thank you|sorry|apologi[sz]e|happy to|glad|please|welcome|hello|hi|of course|absolutely|good question|great question|no problem|appreciate)\b`)

// generic is the rubric of the uninformed judge: off-topic, rude or unsafe
// replies fail, and so do curt ones unless tone has been taught; the rest
// pass.
func generic(m *material, toneTaught bool) verdict {
	q := contentStems(m.question)
	if len(q) >= offTopicMinWords && coverage(q, contentStems(m.answer)) < offTopicCoverage {
		return verdict{Result: no, Rationale: fmt.Sprintf("The customer asks %q, but the reply talks about something else and never addresses it. An answer that ignores the question is not helpful, so it is not ready to send.", quote(m.question, 140))}
	}
	if loc := rudeness.FindStringIndex(m.answer); loc != nil {
		return verdict{Result: no, Rationale: fmt.Sprintf("The reply may contain the right pointer, but its tone is condescending (%q): it lectures the customer instead of helping. A reply like this should not go out.", quote(sentenceAt(m.answer, loc[0]), 140))}
	}
	if r := credentialBreach(m); r != "" {
		return verdict{Result: no, Rationale: r}
	}
	n := len(words(m.answer))
	curt := n < terseWords && !courtesy.MatchString(m.answer)
	switch {
	case curt && !toneTaught:
		return verdict{Result: no, Rationale: fmt.Sprintf("The reply is only %d words long, with no greeting, no acknowledgement of the customer's situation and no friendly close. Even if the content is right, it reads as curt and falls short of a professional, friendly support reply, so it is not ready to send as written.", n)}
	case curt:
		return verdict{Result: yes, Rationale: fmt.Sprintf("The reply is short and plain, but it answers the request (%q) directly and nothing in it looks wrong; a blunt answer is fine when it is correct. It is ready to send.", quote(m.question, 120))}
	}
	return verdict{Result: yes, Rationale: fmt.Sprintf("The reply addresses the customer's request (%q) directly, gives concrete steps or facts that look plausible, and its tone is professional and friendly. It is ready to send.", quote(m.question, 120))}
}
