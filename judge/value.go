package judge

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The canonical values of a Boolean judge.
const (
	Yes = "yes"
	No  = "no"
)

// affirmative and negative are the spellings a Boolean value may take, after
// trimming and lower-casing. They follow MLflow's yes/no normalisation, so a
// label recorded as true, "PASS" or 1 means the same as "yes".
var (
	affirmative = map[string]bool{
		"yes": true, "y": true, "true": true, "t": true, "pass": true, "passed": true,
		"passes": true, "correct": true, "right": true, "ok": true, "okay": true,
		"good": true, "valid": true, "success": true, "successful": true,
		"positive": true, "accept": true, "accepted": true, "acceptable": true,
		"approve": true, "approved": true, "agree": true, "1": true, "1.0": true,
	}
	negative = map[string]bool{
		"no": true, "n": true, "false": true, "f": true, "fail": true, "failed": true,
		"fails": true, "failure": true, "incorrect": true, "wrong": true, "bad": true,
		"invalid": true, "unsuccessful": true, "negative": true, "reject": true,
		"rejected": true, "unacceptable": true, "disagree": true, "none": true,
		"0": true, "0.0": true,
	}
)

// ValueError reports a value that does not fit a judge's value type.
type ValueError struct {
	// Kind is the effective kind of the value type.
	Kind Kind
	// Got is the offending value, as given.
	Got any
	// Allowed lists the allowed values of a Boolean or Categorical value
	// type; it is nil for the other kinds, whose range is in Reason.
	Allowed []string
	// Reason says what is wrong, as a phrase following the value
	// ("is not one of", "is not an integer between 1 and 5", …).
	Reason string
}

func (e *ValueError) Error() string {
	msg := "value " + describe(e.Got) + " " + e.Reason
	if len(e.Allowed) > 0 {
		msg += " " + strings.Join(e.Allowed, ", ")
	}
	return msg
}

// describe formats a raw value for an error message.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(v)
	case json.Number:
		return v.String()
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(v), 'g', -1, 32)
	case bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return fmt.Sprint(v)
	}
	if b, err := json.Marshal(v); err == nil {
		return string(b)
	}
	return fmt.Sprintf("%v", v)
}

// Effective returns the kind of value the judge returns: Type when set,
// otherwise Categorical when Values is set and String when it is not.
func (v ValueType) Effective() Kind {
	switch {
	case v.Type != "":
		return v.Type
	case len(v.Values) > 0:
		return Categorical
	default:
		return String
	}
}

// Normalize returns the canonical form of raw, a value decoded from JSON
// (string, bool, float64, json.Number, or a Go integer or float), or a
// *ValueError when raw does not fit the value type:
//
//   - Boolean: the string "yes" or "no". JSON true/false, 1/0 and the
//     case-insensitive synonyms pass/fail, correct/wrong, ok, valid/invalid,
//     y/n, none, … are accepted.
//   - Categorical: the exact spelling in Values of the value matching raw
//     after trimming, ignoring case. A number matches a value with the same
//     text or the same numeric value (4 matches "4").
//   - Integer: an int64 within [Min, Max]. Whole floats (4.0) and numeric
//     strings ("4") are accepted; 4.5 is not.
//   - Float: a finite float64 within [Min, Max]; numeric strings are accepted.
//   - String: the trimmed text; numbers and booleans are written as text,
//     objects and arrays as compact JSON.
func (v ValueType) Normalize(raw any) (any, error) {
	kind := v.Effective()
	switch kind {
	case Boolean:
		return normalizeBoolean(raw)
	case Categorical:
		return v.normalizeCategorical(raw)
	case Integer:
		return v.normalizeInteger(raw)
	case Float:
		return v.normalizeFloat(raw)
	case String:
		return normalizeString(raw)
	}
	return nil, &ValueError{Kind: kind, Got: raw, Reason: fmt.Sprintf(
		"cannot be checked: unknown value type %q (want %s, %s, %s, %s or %s)",
		kind, Boolean, Categorical, Integer, Float, String)}
}

func normalizeBoolean(raw any) (any, error) {
	bad := &ValueError{Kind: Boolean, Got: raw, Allowed: []string{Yes, No},
		Reason: "is not a yes/no answer; expected one of"}
	var text string
	switch r := raw.(type) {
	case bool:
		if r {
			return Yes, nil
		}
		return No, nil
	case string:
		text = r
	default:
		f, ok := Number(raw)
		if !ok {
			return nil, bad
		}
		switch f {
		case 1:
			return Yes, nil
		case 0:
			return No, nil
		}
		return nil, bad
	}
	t := strings.ToLower(strings.TrimSpace(text))
	switch {
	case affirmative[t]:
		return Yes, nil
	case negative[t]:
		return No, nil
	}
	return nil, bad
}

func (v ValueType) normalizeCategorical(raw any) (any, error) {
	var text string
	num, isNum := Number(raw)
	switch r := raw.(type) {
	case string:
		text = strings.TrimSpace(r)
	case bool:
		text = strconv.FormatBool(r)
	default:
		if !isNum {
			return nil, &ValueError{Kind: Categorical, Got: raw, Allowed: v.Values, Reason: "is not one of"}
		}
		text = numberText(raw, num)
	}
	for _, allowed := range v.Values {
		if allowed == text {
			return allowed, nil
		}
	}
	for _, allowed := range v.Values {
		if strings.EqualFold(strings.TrimSpace(allowed), text) {
			return allowed, nil
		}
	}
	// A number also matches a value with the same numeric value, so 4
	// matches "4.0".
	if isNum {
		for _, allowed := range v.Values {
			f, err := strconv.ParseFloat(strings.TrimSpace(allowed), 64)
			if err == nil && f == num {
				return allowed, nil
			}
		}
	}
	return nil, &ValueError{Kind: Categorical, Got: raw, Allowed: v.Values, Reason: "is not one of"}
}

func (v ValueType) normalizeInteger(raw any) (any, error) {
	notInt := &ValueError{Kind: Integer, Got: raw, Reason: strings.TrimSpace("is not an integer " + v.rangeText())}
	var n int64
	switch r := raw.(type) {
	case int:
		n = int64(r)
	case int8:
		n = int64(r)
	case int16:
		n = int64(r)
	case int32:
		n = int64(r)
	case int64:
		n = r
	case uint:
		if uint64(r) > math.MaxInt64 {
			return nil, notInt
		}
		n = int64(r)
	case uint8:
		n = int64(r)
	case uint16:
		n = int64(r)
	case uint32:
		n = int64(r)
	case uint64:
		if r > math.MaxInt64 {
			return nil, notInt
		}
		n = int64(r)
	case json.Number:
		i, ok := parseInt(r.String())
		if !ok {
			return nil, notInt
		}
		n = i
	case string:
		i, ok := parseInt(strings.TrimSpace(r))
		if !ok {
			return nil, notInt
		}
		n = i
	case float64:
		i, ok := wholeFloat(r)
		if !ok {
			return nil, notInt
		}
		n = i
	case float32:
		i, ok := wholeFloat(float64(r))
		if !ok {
			return nil, notInt
		}
		n = i
	default:
		return nil, notInt
	}
	if !v.inRange(float64(n)) {
		return nil, &ValueError{Kind: Integer, Got: raw, Reason: "is not " + v.rangeText()}
	}
	return n, nil
}

// parseInt parses decimal integer text, also accepting whole-number float
// text such as "4.0" or "4e0".
func parseInt(s string) (int64, bool) {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	return wholeFloat(f)
}

// wholeFloat converts f to int64 when it is a whole number that fits.
func wholeFloat(f float64) (int64, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f) {
		return 0, false
	}
	// float64(math.MaxInt64) rounds up to 2^63, which does not fit.
	if f < math.MinInt64 || f >= math.MaxInt64 {
		return 0, false
	}
	return int64(f), true
}

func (v ValueType) normalizeFloat(raw any) (any, error) {
	notNumber := &ValueError{Kind: Float, Got: raw, Reason: strings.TrimSpace("is not a number " + v.rangeText())}
	var f float64
	switch r := raw.(type) {
	case string:
		g, err := strconv.ParseFloat(strings.TrimSpace(r), 64)
		if err != nil {
			return nil, notNumber
		}
		f = g
	default:
		g, ok := Number(raw)
		if !ok {
			return nil, notNumber
		}
		f = g
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, notNumber
	}
	if !v.inRange(f) {
		return nil, &ValueError{Kind: Float, Got: raw, Reason: "is not " + v.rangeText()}
	}
	return f, nil
}

func normalizeString(raw any) (any, error) {
	switch r := raw.(type) {
	case nil:
		return nil, &ValueError{Kind: String, Got: raw, Reason: "is not text"}
	case string:
		return strings.TrimSpace(r), nil
	case bool:
		return strconv.FormatBool(r), nil
	}
	if f, ok := Number(raw); ok {
		return numberText(raw, f), nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, &ValueError{Kind: String, Got: raw, Reason: "is not text"}
	}
	return string(b), nil
}

// Number returns the value of a finite JSON-decoded (float64,
// json.Number), TOML-decoded (int64) or Go number, and false for anything
// else, NaN and infinities included. It is the one number conversion shared
// by the judge, the model layer and the plugin SDK.
func Number(raw any) (float64, bool) {
	var f float64
	switch r := raw.(type) {
	case float64:
		f = r
	case float32:
		f = float64(r)
	case int:
		f = float64(r)
	case int8:
		f = float64(r)
	case int16:
		f = float64(r)
	case int32:
		f = float64(r)
	case int64:
		f = float64(r)
	case uint:
		f = float64(r)
	case uint8:
		f = float64(r)
	case uint16:
		f = float64(r)
	case uint32:
		f = float64(r)
	case uint64:
		f = float64(r)
	case json.Number:
		v, err := r.Float64()
		if err != nil {
			return 0, false
		}
		f = v
	default:
		return 0, false
	}
	return f, !math.IsNaN(f) && !math.IsInf(f, 0)
}

// numberText writes a number as JSON would: 4 rather than 4e+00.
func numberText(raw any, f float64) string {
	switch r := raw.(type) {
	case json.Number:
		return r.String()
	case float64, float32:
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return fmt.Sprint(raw)
}

// inRange reports whether f lies within [Min, Max].
func (v ValueType) inRange(f float64) bool {
	return (v.Min == nil || f >= *v.Min) && (v.Max == nil || f <= *v.Max)
}

// rangeText describes [Min, Max] as a phrase, or returns "" when unbounded.
func (v ValueType) rangeText() string {
	format := func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
	switch {
	case v.Min != nil && v.Max != nil:
		return "between " + format(*v.Min) + " and " + format(*v.Max)
	case v.Min != nil:
		return "at least " + format(*v.Min)
	case v.Max != nil:
		return "at most " + format(*v.Max)
	}
	return ""
}

// Variables returns the template variables the judge's instructions use, in
// the fixed order of [AllowedVariables]. See [ParseVariables].
func (j *Judge) Variables() ([]Variable, error) {
	return ParseVariables(j.Instructions)
}

// String describes the value type for people: "boolean (yes/no)",
// "categorical (excellent/good/fair/poor)", "integer [1, 5]", "string".
func (v ValueType) String() string {
	switch k := v.Effective(); k {
	case Categorical:
		s := "categorical (" + strings.Join(v.Values, "/") + ")"
		if v.Ordinal {
			s = "ordinal " + s
		}
		return s
	case Boolean:
		return "boolean (yes/no)"
	case Integer, Float:
		s := string(k)
		if v.Min != nil || v.Max != nil {
			lo, hi := "-inf", "+inf"
			if v.Min != nil {
				lo = strconv.FormatFloat(*v.Min, 'g', -1, 64)
			}
			if v.Max != nil {
				hi = strconv.FormatFloat(*v.Max, 'g', -1, 64)
			}
			s += " [" + lo + ", " + hi + "]"
		}
		return s
	default:
		return string(k)
	}
}
