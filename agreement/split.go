package agreement

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// splitStream is the second PCG seed word of Split and KFold.
const splitStream = 0x73_70_6c_69_74 // "split"

// Fold divides items 0…n-1 into a training and a test part. Both hold item
// indices in increasing order.
type Fold struct {
	Train []int `json:"train"`
	Test  []int `json:"test"`
}

// Split divides n items into a training part and a held-out test part of
// about holdout (in (0, 1)) of the items, for aligning a judge on one and
// measuring it on the other.
//
// Items that group(i) puts in the same non-empty group (a session, a
// document) form a unit that is never divided, so nothing of a held-out
// conversation is seen in training. Without group, each item is a unit;
// an item whose group is "" is a unit of its own. Each unit belongs to the
// stratum stratify(i) of most of its items (ties go to the smallest
// stratum name); stratify is usually the human value, so every label is
// represented on both sides. Without stratify there is one stratum.
//
// Within each stratum, in order of stratum name, the units are shuffled by a
// PCG generator seeded with seed, then taken into the test part one by one
// when that brings its item count closer to holdout × the stratum's item
// count (ties stay in training). A stratum of two or more units then keeps
// at least one unit on each side; a stratum of one unit goes to training.
// So the test part is close to holdout of each stratum, not exact, and a
// small stratum can make it larger. The same arguments always give the
// same split.
func Split(n int, holdout float64, seed uint64, stratify, group func(i int) string) (Fold, error) {
	if n <= 0 {
		return Fold{}, fmt.Errorf("split: no items to split (n = %d)", n)
	}
	if !(holdout > 0 && holdout < 1) {
		return Fold{}, fmt.Errorf("split: holdout %v is not between 0 and 1", holdout)
	}
	rng := rand.New(rand.NewPCG(seed, splitStream))
	var f Fold
	for _, s := range strata(n, stratify, group) {
		shuffle(rng, s.units)
		target := holdout * float64(s.items)
		test := make([]bool, len(s.units))
		tested, have := 0, 0
		for u, items := range s.units {
			next := have + len(items)
			if math.Abs(float64(next)-target) < math.Abs(float64(have)-target) {
				test[u], have = true, next
				tested++
			}
		}
		switch {
		case len(s.units) == 1:
			test[0] = false
		case tested == 0:
			test[0] = true
		case tested == len(s.units):
			test[len(test)-1] = false
		}
		for u, items := range s.units {
			if test[u] {
				f.Test = append(f.Test, items...)
			} else {
				f.Train = append(f.Train, items...)
			}
		}
	}
	slices.Sort(f.Train)
	slices.Sort(f.Test)
	return f, nil
}

// KFold divides n items into k folds for cross-validation: each item is in
// the test part of exactly one fold and in the training part of the others.
// Units and strata are as for Split and are never divided.
//
// Within each stratum, in order of stratum name, the units are shuffled by a
// PCG generator seeded with seed and dealt one by one to the fold holding
// the fewest items of that stratum so far (ties: the fold with the fewest
// items overall, then the lowest-numbered). So every stratum with at least
// k units appears in every fold's test part, and test parts differ in size
// by about one unit. It needs 2 ≤ k ≤ the number of units. The same
// arguments always give the same folds.
func KFold(n, k int, seed uint64, stratify, group func(i int) string) ([]Fold, error) {
	if n <= 0 {
		return nil, fmt.Errorf("k-fold: no items to split (n = %d)", n)
	}
	if k < 2 {
		return nil, fmt.Errorf("k-fold: %d folds; need at least 2", k)
	}
	all := strata(n, stratify, group)
	units := 0
	for _, s := range all {
		units += len(s.units)
	}
	if units < k {
		what := "items"
		if group != nil {
			what = "groups of items"
		}
		return nil, fmt.Errorf("k-fold: %d folds need at least %d %s, have %d", k, k, what, units)
	}
	rng := rand.New(rand.NewPCG(seed, splitStream))
	tests := make([][]int, k)
	inStratum := make([]int, k)
	for _, s := range all {
		shuffle(rng, s.units)
		clear(inStratum)
		for _, items := range s.units {
			best := 0
			for f := 1; f < k; f++ {
				if cmp.Or(cmp.Compare(inStratum[f], inStratum[best]), cmp.Compare(len(tests[f]), len(tests[best]))) < 0 {
					best = f
				}
			}
			tests[best] = append(tests[best], items...)
			inStratum[best] += len(items)
		}
	}
	folds := make([]Fold, k)
	owner := make([]int, n)
	for f, items := range tests {
		for _, i := range items {
			owner[i] = f
		}
	}
	for f := range folds {
		for i := range n {
			if owner[i] == f {
				folds[f].Test = append(folds[f].Test, i)
			} else {
				folds[f].Train = append(folds[f].Train, i)
			}
		}
	}
	return folds, nil
}

// stratum is a set of units, each a set of item indices.
type stratum struct {
	name  string
	units [][]int
	items int
}

// strata groups items into units and units into strata, units in order of
// their first item and strata by name.
func strata(n int, stratify, group func(i int) string) []stratum {
	var units [][]int
	byGroup := make(map[string]int)
	for i := range n {
		g := ""
		if group != nil {
			g = group(i)
		}
		if g == "" {
			units = append(units, []int{i})
			continue
		}
		u, ok := byGroup[g]
		if !ok {
			u = len(units)
			byGroup[g] = u
			units = append(units, nil)
		}
		units[u] = append(units[u], i)
	}
	byName := make(map[string]*stratum)
	for _, items := range units {
		name := ""
		if stratify != nil {
			name = majority(items, stratify)
		}
		s, ok := byName[name]
		if !ok {
			s = &stratum{name: name}
			byName[name] = s
		}
		s.units = append(s.units, items)
		s.items += len(items)
	}
	out := make([]stratum, 0, len(byName))
	for _, s := range byName {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b stratum) int { return cmp.Compare(a.name, b.name) })
	return out
}

// majority returns the most common stratum of items, the smallest name on a
// tie.
func majority(items []int, stratify func(i int) string) string {
	count := make(map[string]int)
	for _, i := range items {
		count[stratify(i)]++
	}
	best, most := "", -1
	for s, c := range count {
		if c > most || c == most && s < best {
			best, most = s, c
		}
	}
	return best
}

func shuffle(rng *rand.Rand, units [][]int) {
	rng.Shuffle(len(units), func(i, j int) { units[i], units[j] = units[j], units[i] })
}
