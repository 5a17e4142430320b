// Package agreement measures how well an LLM judge agrees with human labels,
// and whether one judge agrees better than another: the statistics behind
// `alignhost compare` and the held-out protocol of `alignhost align`.
//
// It depends on the standard library only and knows nothing of judges,
// traces or stores: the caller pairs each trace's human value with the
// judge's and says what kind of values they are.
//
// # Model
//
// A [Pair] holds one trace's human [Answer] and the judge's. Values are
// compared on a [Scale]:
//
//   - [Nominal]: unordered labels, such as a yes/no judge or an unordered
//     categorical one. Any two different labels are equally wrong.
//   - [Ordinal]: labels in a given order (excellent, good, fair, poor).
//     Answering "good" for "excellent" is less wrong than "poor".
//   - [Numeric]: integer and float scores; the distance is the difference.
//
// A scale may name a fail label ([PassFailScale]("yes", "no")): the judge is
// then also read as a defect detector.
//
// [Evaluate] turns pairs into a [Report]. [Compare] turns cases, each a
// [Case] with the answers of two judges A (the base) and B (the aligned
// judge), into a [Comparison]. A judge that failed on a trace (Answer.Error, or no value)
// is not silently dropped: the report counts and lists those traces, the
// confusion matrix has an errors column, and the figures are computed on
// the answered pairs. A caller deciding between judges should look at
// Report.Errors as well: a judge that errs on the hard cases looks better
// on the rest.
//
// # The figures
//
// Accuracy is the share of pairs with exactly the same value. It is easy to
// read and easy to be fooled by. In HaluEval about 18% of the answers are
// hallucinations (fail); a judge that passes everything is 82% accurate and
// useless. So:
//
// Cohen's kappa corrects accuracy for chance: kappa = 1 - Do/De, where Do
// is the observed mean disagreement and De the disagreement expected if the
// judge answered independently of the human with its own label
// frequencies. Kappa is 0 for a judge no better than chance (the pass-all
// judge above) and 1 for perfect agreement; negative is worse than chance.
// Unweighted kappa (nominal scales) counts every disagreement as 1. On
// ordinal and numeric scales the default is linear weighting: a
// disagreement counts by its distance (positions in the label order, or the
// numeric difference), so the judge gets partial credit for being close.
// Quadratic weighting (Options.Weighting) counts the squared distance and
// punishes large misses more. Kappa is the figure to require improvement
// on. A rough reading (Landis and Koch, 1977): up to 0.2 slight, 0.2-0.4
// fair, 0.4-0.6 moderate, 0.6-0.8 substantial, above 0.8 almost perfect.
// The bands were drawn for unweighted kappa; weighted kappas of the same
// data usually run higher, so compare like with like.
//
// Per-class precision, recall and F1 treat the human value as the truth and
// the judge's as the prediction; macro F1 averages F1 over the classes
// that occur, so a rare class weighs as much as a common one.
//
// For a pass/fail judge the defect-detector view of the EvalGen paper
// (Shankar et al., "Who Validates the Validators?", 2024) asks two
// questions. Fail recall: of the traces the humans failed, what share does
// the judge fail? (The share of defects caught.) False-failure rate: of the
// traces the humans passed, what share does the judge fail? (The false
// alarms.) On imbalanced data these say what accuracy hides: the pass-all
// judge has fail recall 0.
//
// For numeric judges: MAE is the mean absolute difference, in the judge's
// units. Spearman's rho is the correlation of ranks (tied values share their
// average rank): does the judge order the traces like the humans, whatever
// its scale? Lin's concordance correlation coefficient,
// CCC = 2·cov / (var_h + var_j + (mean_h - mean_j)²), asks more: do the
// scores fall on the line judge = human? A judge that adds 1 to every
// human score has rho 1 but CCC below 1.
//
// The confusion matrix has a row per human value and a column per judge
// value, in label order (the sorted distinct values for numeric scales and
// undeclared labels, up to [MaxInferredLabels]).
//
// # Intervals
//
// A figure from 60 held-out traces is uncertain, and a difference of 0.05
// in kappa may be noise. Every headline figure, per-class figure and delta
// comes with a percentile bootstrap confidence interval (95% by default):
// the pairs are resampled with replacement Options.Resamples times (2000 by
// default), the figure is recomputed on each resample, and the interval is
// the middle 95% of those values. The resampling unit is the pair, and a
// [Comparison] resamples pairs, not judges: both judges are measured on the
// same resamples, so the interval of a delta accounts for the correlation
// between them. Resampling draws from a PCG generator seeded with
// Options.Seed, so intervals are reproducible. A resample in which a figure
// is undefined (all of one class, say) is left out of that figure's
// interval, and the Metric's Note says how many were.
//
// The difference in accuracy is also tested exactly with McNemar's test
// ([McNemarExact]), which looks only at the traces where exactly one judge
// is right.
//
// # Degenerate data
//
// Nothing here panics on small or odd data. A figure that is undefined is
// NaN (null in JSON) with a Note saying why: kappa when judge and human
// gave one and the same value to every pair (chance agreement is certain),
// fail recall with no human fail, Spearman when one side does not vary,
// CCC when both sides are the same constant, precision of a class the
// judge never used, recall of a class the humans never used, every figure
// when no pair has a judge value.
//
// # Held-out protocol
//
// [Split] divides labelled traces into a training part for alignment and a
// held-out part for measurement, stratified by human value and never
// dividing a group (a session, a document); [KFold] makes k such folds for
// cross-validation; [Aggregate] and [AggregateComparisons] give the mean
// and standard deviation of each figure over the folds.
package agreement
