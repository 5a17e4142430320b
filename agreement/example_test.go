package agreement_test

import (
	"fmt"

	"github.com/alignhost/alignhost/agreement"
)

// A yes/no judge that passes nearly everything looks accurate on data with
// few failures; kappa and fail recall show it is not. By hand: accuracy
// 83/100; pe = (82·95 + 18·5)/100² = 0.788, kappa = (0.83-0.788)/0.212;
// F1 yes = 160/177, no = 6/23; fail recall 3/18; false failures 2/82.
func ExampleEvaluate() {
	var pairs []agreement.Pair
	add := func(n int, human, judge string) {
		for range n {
			pairs = append(pairs, agreement.Pair{
				TraceID: fmt.Sprintf("tr-%d", len(pairs)),
				Human:   agreement.Answer{Value: human},
				Judge:   agreement.Answer{Value: judge},
			})
		}
	}
	add(80, "yes", "yes")
	add(2, "yes", "no")
	add(15, "no", "yes")
	add(3, "no", "no")

	r, err := agreement.Evaluate(pairs, agreement.PassFailScale("yes", "no"),
		agreement.Options{Resamples: agreement.NoBootstrap})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range r.Figures {
		fmt.Printf("%-18s %.3f\n", m.Figure, m.Value)
	}
	fmt.Println(r.Confusion.Counts)
	// Output:
	// accuracy           0.830
	// kappa              0.198
	// macro_f1           0.582
	// fail_recall        0.167
	// false_failure_rate 0.024
	// [[80 2] [15 3]]
}

// Comparing a base and an aligned judge on held-out traces.
func ExampleCompare() {
	quality := agreement.OrdinalScale("excellent", "good", "fair", "poor")
	a := func(v string) agreement.Answer { return agreement.Answer{Value: v} }
	cases := []agreement.Case{
		{TraceID: "t1", Human: a("good"), A: a("excellent"), B: a("good")},
		{TraceID: "t2", Human: a("poor"), A: a("fair"), B: a("poor")},
		{TraceID: "t3", Human: a("fair"), A: a("fair"), B: a("good")},
		{TraceID: "t4", Human: a("excellent"), A: a("excellent"), B: a("excellent")},
		{TraceID: "t5", Human: a("poor"), A: a("good"), B: a("fair")},
	}
	c, err := agreement.Compare(cases, quality, agreement.Options{Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	kappa, _ := c.Delta(agreement.Kappa)
	fmt.Printf("kappa %.3f -> %.3f (%+.3f)\n", kappa.A.Value, kappa.B.Value, kappa.Diff.Value)
	fmt.Printf("McNemar: A only %d, B only %d, p = %.3f\n", c.McNemar.OnlyA, c.McNemar.OnlyB, c.McNemar.PValue)
	for _, d := range c.Disagreements {
		fmt.Println(d.TraceID, d.Outcome, d.Human.Value, d.A.Value, d.B.Value)
	}
	// Output:
	// kappa 0.412 -> 0.688 (+0.276)
	// McNemar: A only 1, B only 2, p = 1.000
	// t3 regressed fair fair good
	// t5 unresolved poor good fair
	// t1 fixed good excellent good
	// t2 fixed poor fair poor
}

// Holding out 30% of the labelled traces, stratified by the human label.
func ExampleSplit() {
	labels := []string{"yes", "yes", "no", "yes", "yes", "no", "yes", "yes", "yes", "no"}
	fold, err := agreement.Split(len(labels), 0.3, 1, func(i int) string { return labels[i] }, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	count := func(items []int) map[string]int {
		m := map[string]int{}
		for _, i := range items {
			m[labels[i]]++
		}
		return m
	}
	fmt.Println("train", count(fold.Train))
	fmt.Println("test ", count(fold.Test))
	// Output:
	// train map[no:2 yes:5]
	// test  map[no:1 yes:2]
}
