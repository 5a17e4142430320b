package agreement_test

import (
	"math"
	"testing"

	"github.com/alignhost/alignhost/agreement"
)

func report(figs ...agreement.Metric) *agreement.Report {
	return &agreement.Report{Figures: figs}
}

func metric(f agreement.Figure, v float64) agreement.Metric {
	return agreement.Metric{Figure: f, Estimate: agreement.Estimate{Value: v}}
}

func TestAggregate(t *testing.T) {
	reports := []*agreement.Report{
		report(metric(agreement.Accuracy, 0.8), metric(agreement.Kappa, 0.5)),
		report(metric(agreement.Accuracy, 0.7), metric(agreement.Kappa, math.NaN())),
		nil,
		report(metric(agreement.Accuracy, 0.9), metric(agreement.Kappa, 0.7), metric(agreement.FailRecall, 0.4)),
	}
	got := agreement.Aggregate(reports)
	// Accuracy: mean 0.8, SD √((0.01 + 0 + 0.01)/2) = 0.1.
	// Kappa: the NaN fold is left out; mean 0.6, SD √(0.02/1).
	// Fail recall: one fold, no SD.
	want := []agreement.Summary{
		{Figure: agreement.Accuracy, Folds: 3, Mean: 0.8, SD: 0.1},
		{Figure: agreement.Kappa, Folds: 2, Mean: 0.6, SD: math.Sqrt(0.02)},
		{Figure: agreement.FailRecall, Folds: 1, Mean: 0.4, SD: math.NaN()},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d summaries %+v, want %d", len(got), got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Figure != w.Figure || g.Folds != w.Folds || !near(g.Mean, w.Mean, 1e-12) || !near(g.SD, w.SD, 1e-12) {
			t.Errorf("summary %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestAggregateComparisons(t *testing.T) {
	fold := func(kappaA, kappaB float64, b, c int) *agreement.Comparison {
		return &agreement.Comparison{
			A: report(metric(agreement.Kappa, kappaA)),
			B: report(metric(agreement.Kappa, kappaB)),
			Deltas: []agreement.Delta{{
				Figure: agreement.Kappa,
				Diff:   agreement.Estimate{Value: kappaB - kappaA},
			}},
			McNemar: agreement.McNemar{Pairs: 10, BothRight: 10 - b - c, OnlyA: b, OnlyB: c},
		}
	}
	s := agreement.AggregateComparisons([]*agreement.Comparison{fold(0.4, 0.6, 0, 5), fold(0.5, 0.5, 1, 4)})
	if s.Folds != 2 {
		t.Errorf("folds = %d, want 2", s.Folds)
	}
	if len(s.Diff) != 1 || !near(s.Diff[0].Mean, 0.1, 1e-12) || !near(s.Diff[0].SD, math.Sqrt(0.02), 1e-12) {
		t.Errorf("diff = %+v, want mean 0.1 sd √0.02", s.Diff)
	}
	if len(s.A) != 1 || !near(s.A[0].Mean, 0.45, 1e-12) || len(s.B) != 1 || !near(s.B[0].Mean, 0.55, 1e-12) {
		t.Errorf("a = %+v, b = %+v, want means 0.45 and 0.55", s.A, s.B)
	}
	// Pooled: b = 1, c = 9 → p = 0.021484375.
	want := agreement.McNemar{Pairs: 20, BothRight: 10, OnlyA: 1, OnlyB: 9, PValue: 0.021484375}
	if !near(s.McNemar.PValue, want.PValue, 1e-12) {
		t.Errorf("pooled p = %v, want %v", s.McNemar.PValue, want.PValue)
	}
	s.McNemar.PValue = want.PValue
	if s.McNemar != want {
		t.Errorf("pooled mcnemar = %+v, want %+v", s.McNemar, want)
	}
}
