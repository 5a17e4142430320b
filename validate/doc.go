// Package validate measures how well judges agree with humans on held-out
// traces: the engine behind `alignhost compare`, and the measuring step of
// the held-out protocol of `alignhost align`.
//
// # Model
//
// A trace takes part when it carries a human label for the judge: a HUMAN
// feedback named after the judge (trace.Trace.HumanFeedback; by default
// the name of judge A, or Options.Label). The label's value is normalised
// with the judge's value type, so "PASS", true and "yes" are one value of a
// yes/no judge; a label that does not fit the value type leaves its trace
// out, with a note saying so.
//
// Each judge is then asked for its judgement of every labelled trace
// through an eval.Evaluator ([eval.Evaluator.Evaluate]), concurrently.
// Nothing is stored; with the store's response cache on the evaluator's
// client, a judgement made before (by `alignhost eval` or an earlier
// comparison) is answered from the cache and costs nothing. A judgement
// that fails for one trace (an unusable answer, a trace without the field
// the judge needs) is not dropped: it becomes the judge's answer with an
// error, which the statistics count and list.
//
// The values are compared on the scale of the judge's value type
// ([ScaleFor]), and package agreement computes the figures: [Agreement]
// gives one judge's agreement.Report, [Compare] sets a base judge A and a
// candidate judge B side by side in an agreement.Comparison, on the same
// traces and bootstrap resamples. The two judges must answer on the same
// scale; they may have different names.
package validate
