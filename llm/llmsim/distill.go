package llmsim

// guidelinesAnswer is the answer to a distillation request, in the shape
// plugins/memalign asks for.
type guidelinesAnswer struct {
	Guidelines []proposedGuideline `json:"guidelines"`
}

type proposedGuideline struct {
	Text    string `json:"guideline_text"`
	Sources []int  `json:"source_trace_ids"`
}

// distillation groups the records by the policy their rationales teach and
// writes one guideline per policy, in catalogue order, citing every record
// that taught it (in prompt order). A policy already taught by an existing
// guideline gets none; records that teach no policy give none.
func distillation(p *distillPrompt) guidelinesAnswer {
	covered := taughtPolicies(p.existing)
	out := guidelinesAnswer{Guidelines: []proposedGuideline{}}
	for _, pol := range catalogue() {
		if covered[pol.name] {
			continue
		}
		var (
			ids        []int
			rationales []string
		)
		for _, r := range p.records {
			if taughtPolicies([]string{r.Rationale})[pol.name] {
				ids = append(ids, r.ID)
				rationales = append(rationales, r.Rationale)
			}
		}
		if len(ids) > 0 {
			out.Guidelines = append(out.Guidelines, proposedGuideline{Text: pol.guideline(rationales), Sources: ids})
		}
	}
	return out
}
