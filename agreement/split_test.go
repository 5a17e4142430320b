package agreement_test

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/alignhost/alignhost/agreement"
)

// humanLabels returns n labels, the first fails of them "no".
func humanLabels(n, fails int) []string {
	labels := make([]string, n)
	for i := range labels {
		labels[i] = "yes"
		if i < fails {
			labels[i] = "no"
		}
	}
	return labels
}

// checkPartition fails unless train and test are disjoint, sorted and cover
// 0…n-1.
func checkPartition(t *testing.T, f agreement.Fold, n int) {
	t.Helper()
	if !slices.IsSorted(f.Train) || !slices.IsSorted(f.Test) {
		t.Errorf("fold not sorted: %v / %v", f.Train, f.Test)
	}
	all := slices.Concat(f.Train, f.Test)
	slices.Sort(all)
	if len(all) != n || len(slices.Compact(all)) != n || all[0] != 0 || all[n-1] != n-1 {
		t.Errorf("train %v and test %v do not partition 0..%d", f.Train, f.Test, n-1)
	}
}

func count(items []int, labels []string, label string) int {
	n := 0
	for _, i := range items {
		if labels[i] == label {
			n++
		}
	}
	return n
}

func TestSplitStratified(t *testing.T) {
	// HaluEval-like: 18 fails in 100. 30% held out of each stratum:
	// 5.4 → 5 fails and 24.6 → 25 passes, the nearest counts.
	labels := humanLabels(100, 18)
	stratify := func(i int) string { return labels[i] }
	for seed := range uint64(5) {
		f, err := agreement.Split(len(labels), 0.3, seed, stratify, nil)
		if err != nil {
			t.Fatal(err)
		}
		checkPartition(t, f, len(labels))
		if no, yes := count(f.Test, labels, "no"), count(f.Test, labels, "yes"); no != 5 || yes != 25 {
			t.Errorf("seed %d: test has %d fails and %d passes, want 5 and 25", seed, no, yes)
		}
	}
}

func TestSplitSmallStrata(t *testing.T) {
	// A stratum of two keeps one on each side even at 10%; a stratum of
	// one goes to training.
	labels := append(humanLabels(20, 0), "no", "no", "maybe")
	f, err := agreement.Split(len(labels), 0.1, 1, func(i int) string { return labels[i] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkPartition(t, f, len(labels))
	if got := count(f.Test, labels, "no"); got != 1 {
		t.Errorf("test holds %d of the 2 fails, want 1", got)
	}
	if got := count(f.Train, labels, "maybe"); got != 1 {
		t.Errorf("the single maybe is not in training: %v", f.Train)
	}
	if got := count(f.Test, labels, "yes"); got != 2 {
		t.Errorf("test holds %d of 20 passes, want 2", got)
	}

	// Holdout near 1 still leaves a unit in training.
	f, err = agreement.Split(4, 0.99, 1, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Train) != 1 || len(f.Test) != 3 {
		t.Errorf("holdout 0.99 of 4: train %v test %v, want 1 and 3", f.Train, f.Test)
	}
}

func TestSplitGroups(t *testing.T) {
	// 12 sessions of 1 to 4 traces; a session's traces are all "no" or
	// all "yes", except session 3 which is mostly "no".
	var group, labels []string
	for s := range 12 {
		for k := range s%4 + 1 {
			group = append(group, fmt.Sprintf("s%d", s))
			label := "yes"
			if s%3 == 0 && !(s == 3 && k == 3) {
				label = "no"
			}
			labels = append(labels, label)
		}
	}
	byGroup := func(i int) string { return group[i] }
	stratify := func(i int) string { return labels[i] }
	for seed := range uint64(20) {
		f, err := agreement.Split(len(labels), 0.3, seed, stratify, byGroup)
		if err != nil {
			t.Fatal(err)
		}
		checkPartition(t, f, len(labels))
		side := make(map[string]string)
		for part, items := range map[string][]int{"train": f.Train, "test": f.Test} {
			for _, i := range items {
				if other, ok := side[group[i]]; ok && other != part {
					t.Fatalf("seed %d: session %s is in both parts", seed, group[i])
				}
				side[group[i]] = part
			}
		}
		if count(f.Test, labels, "no") == 0 || count(f.Train, labels, "no") == 0 {
			t.Errorf("seed %d: the fail stratum is not on both sides: %v / %v", seed, f.Train, f.Test)
		}
	}
}

func TestSplitDeterministic(t *testing.T) {
	labels := humanLabels(50, 10)
	stratify := func(i int) string { return labels[i] }
	a, _ := agreement.Split(50, 0.3, 42, stratify, nil)
	b, _ := agreement.Split(50, 0.3, 42, stratify, nil)
	c, _ := agreement.Split(50, 0.3, 43, stratify, nil)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("same seed, different splits: %v, %v", a.Test, b.Test)
	}
	if reflect.DeepEqual(a, c) {
		t.Errorf("seeds 42 and 43 gave the same split %v", a.Test)
	}
}

func TestKFold(t *testing.T) {
	labels := humanLabels(53, 12)
	stratify := func(i int) string { return labels[i] }
	folds, err := agreement.KFold(len(labels), 5, 9, stratify, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(folds) != 5 {
		t.Fatalf("%d folds, want 5", len(folds))
	}
	tested := make([]int, len(labels))
	var sizes []int
	for k, f := range folds {
		checkPartition(t, f, len(labels))
		for _, i := range f.Test {
			tested[i]++
		}
		sizes = append(sizes, len(f.Test))
		// 12 fails over 5 folds: 2 or 3 each; 41 passes: 8 or 9.
		if no := count(f.Test, labels, "no"); no < 2 || no > 3 {
			t.Errorf("fold %d tests %d fails, want 2 or 3", k, no)
		}
		if yes := count(f.Test, labels, "yes"); yes < 8 || yes > 9 {
			t.Errorf("fold %d tests %d passes, want 8 or 9", k, yes)
		}
	}
	for i, n := range tested {
		if n != 1 {
			t.Errorf("item %d is tested in %d folds, want 1", i, n)
		}
	}
	if slices.Max(sizes)-slices.Min(sizes) > 1 {
		t.Errorf("test sizes %v differ by more than one", sizes)
	}
	again, _ := agreement.KFold(len(labels), 5, 9, stratify, nil)
	if !reflect.DeepEqual(folds, again) {
		t.Error("same seed, different folds")
	}
}

func TestKFoldGroups(t *testing.T) {
	group := []string{"a", "a", "a", "b", "c", "c", "d", "", ""}
	folds, err := agreement.KFold(len(group), 3, 1, nil, func(i int) string { return group[i] })
	if err != nil {
		t.Fatal(err)
	}
	for k, f := range folds {
		checkPartition(t, f, len(group))
		if len(f.Test) == 0 {
			t.Errorf("fold %d tests nothing", k)
		}
		in := make(map[string]bool)
		for _, i := range f.Test {
			in[group[i]] = true
		}
		for _, i := range f.Train {
			if group[i] != "" && in[group[i]] {
				t.Errorf("fold %d: group %s straddles train and test", k, group[i])
			}
		}
	}
}

func TestSplitInvalid(t *testing.T) {
	group := func(i int) string { return "one" }
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"no items", second(agreement.Split(0, 0.3, 1, nil, nil)), "split: no items"},
		{"holdout 0", second(agreement.Split(10, 0, 1, nil, nil)), "split: holdout 0 is not between 0 and 1"},
		{"holdout 1", second(agreement.Split(10, 1, 1, nil, nil)), "holdout 1 is not"},
		{"k 1", second(agreement.KFold(10, 1, 1, nil, nil)), "k-fold: 1 folds; need at least 2"},
		{"k too large", second(agreement.KFold(3, 4, 1, nil, nil)), "k-fold: 4 folds need at least 4 items, have 3"},
		{"too few groups", second(agreement.KFold(10, 2, 1, nil, group)), "need at least 2 groups of items, have 1"},
		{"k-fold no items", second(agreement.KFold(0, 2, 1, nil, nil)), "k-fold: no items"},
	}
	for _, tt := range tests {
		if tt.err == nil || !strings.Contains(tt.err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, tt.err, tt.want)
		}
	}
}

func second[T any](_ T, err error) error { return err }
