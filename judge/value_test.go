package judge_test

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/alignhost/alignhost/judge"
)

func ptr(f float64) *float64 { return &f }

func TestEffective(t *testing.T) {
	tests := []struct {
		vt   judge.ValueType
		want judge.Kind
	}{
		{judge.ValueType{}, judge.String},
		{judge.ValueType{Values: []string{"a", "b"}}, judge.Categorical},
		{judge.ValueType{Type: judge.Boolean}, judge.Boolean},
		{judge.ValueType{Type: judge.Integer, Values: []string{"a"}}, judge.Integer},
	}
	for _, tt := range tests {
		if got := tt.vt.Effective(); got != tt.want {
			t.Errorf("%+v.Effective() = %q, want %q", tt.vt, got, tt.want)
		}
	}
}

func TestNormalize(t *testing.T) {
	boolean := judge.ValueType{Type: judge.Boolean}
	quality := judge.ValueType{Values: []string{"excellent", "good", "fair", "poor"}}
	scale := judge.ValueType{Values: []string{"1", "2", "3", "4", "5.0"}}
	integer := judge.ValueType{Type: judge.Integer, Min: ptr(1), Max: ptr(5)}
	unbounded := judge.ValueType{Type: judge.Integer}
	float := judge.ValueType{Type: judge.Float, Min: ptr(0), Max: ptr(1)}
	text := judge.ValueType{}

	tests := []struct {
		name string
		vt   judge.ValueType
		raw  any
		want any
	}{
		{"bool true", boolean, true, "yes"},
		{"bool false", boolean, false, "no"},
		{"bool number 1", boolean, 1.0, "yes"},
		{"bool number 0", boolean, json.Number("0"), "no"},
		{"bool int", boolean, int64(1), "yes"},
		{"categorical case and space", quality, "  GOOD ", "good"},
		{"categorical exact", quality, "poor", "poor"},
		{"categorical number text", scale, 4.0, "4"},
		{"categorical json number", scale, json.Number("3"), "3"},
		{"categorical numeric value", scale, 5, "5.0"},
		{"categorical numeric string", scale, " 2 ", "2"},
		{"integer float", integer, 4.0, int64(4)},
		{"integer string", integer, " 4 ", int64(4)},
		{"integer string float", integer, "4.0", int64(4)},
		{"integer json number", integer, json.Number("5"), int64(5)},
		{"integer int", integer, 1, int64(1)},
		{"integer unbounded negative", unbounded, -12.0, int64(-12)},
		{"float", float, 0.25, 0.25},
		{"float string", float, "0.5", 0.5},
		{"float int", float, 1, 1.0},
		{"float json number", float, json.Number("0.75"), 0.75},
		{"string trimmed", text, "  fine\n", "fine"},
		{"string from number", text, 4.0, "4"},
		{"string from float", text, 0.5, "0.5"},
		{"string from bool", text, true, "true"},
		{"string from object", text, map[string]any{"a": 1.0}, `{"a":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.vt.Normalize(tt.raw)
			if err != nil {
				t.Fatalf("Normalize(%#v) error: %v", tt.raw, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Normalize(%#v) = %#v (%T), want %#v (%T)", tt.raw, got, got, tt.want, tt.want)
			}
		})
	}
}

func TestNormalizeBooleanSynonyms(t *testing.T) {
	boolean := judge.ValueType{Type: judge.Boolean}
	for _, s := range []string{"yes", "YES", " y ", "true", "True", "pass", "Passed", "correct", "ok", "OK", "good", "valid", "1", "success"} {
		if got, err := boolean.Normalize(s); err != nil || got != "yes" {
			t.Errorf("Normalize(%q) = %v, %v; want yes", s, got, err)
		}
	}
	for _, s := range []string{"no", "No", "n", "false", "FALSE", "fail", "failed", "wrong", "bad", "invalid", "0", "none", "incorrect"} {
		if got, err := boolean.Normalize(s); err != nil || got != "no" {
			t.Errorf("Normalize(%q) = %v, %v; want no", s, got, err)
		}
	}
}

func TestNormalizeErrors(t *testing.T) {
	tests := []struct {
		name    string
		vt      judge.ValueType
		raw     any
		message string
		allowed []string
	}{
		{"boolean unknown word", judge.ValueType{Type: judge.Boolean}, "maybe",
			`value "maybe" is not a yes/no answer; expected one of yes, no`, []string{"yes", "no"}},
		{"boolean number 2", judge.ValueType{Type: judge.Boolean}, 2.0,
			`value 2 is not a yes/no answer; expected one of yes, no`, []string{"yes", "no"}},
		{"boolean null", judge.ValueType{Type: judge.Boolean}, nil,
			`value null is not a yes/no answer; expected one of yes, no`, []string{"yes", "no"}},
		{"categorical", judge.ValueType{Values: []string{"excellent", "good", "fair", "poor"}}, "great",
			`value "great" is not one of excellent, good, fair, poor`, []string{"excellent", "good", "fair", "poor"}},
		{"categorical number", judge.ValueType{Values: []string{"1", "2"}}, 3.0,
			`value 3 is not one of 1, 2`, []string{"1", "2"}},
		{"integer fraction", judge.ValueType{Type: judge.Integer, Min: ptr(1), Max: ptr(5)}, 4.5,
			`value 4.5 is not an integer between 1 and 5`, nil},
		{"integer above", judge.ValueType{Type: judge.Integer, Min: ptr(1), Max: ptr(5)}, 7.0,
			`value 7 is not between 1 and 5`, nil},
		{"integer below min only", judge.ValueType{Type: judge.Integer, Min: ptr(0)}, "-1",
			`value "-1" is not at least 0`, nil},
		{"integer word", judge.ValueType{Type: judge.Integer}, "four",
			`value "four" is not an integer`, nil},
		{"integer bool", judge.ValueType{Type: judge.Integer}, true,
			`value true is not an integer`, nil},
		{"float above max only", judge.ValueType{Type: judge.Float, Max: ptr(1)}, 1.5,
			`value 1.5 is not at most 1`, nil},
		{"float word", judge.ValueType{Type: judge.Float, Min: ptr(0), Max: ptr(1)}, "high",
			`value "high" is not a number between 0 and 1`, nil},
		{"float NaN string", judge.ValueType{Type: judge.Float}, "NaN",
			`value "NaN" is not a number`, nil},
		{"string null", judge.ValueType{}, nil, `value null is not text`, nil},
		{"unknown kind", judge.ValueType{Type: "percent"}, "1",
			`value "1" cannot be checked: unknown value type "percent" (want boolean, categorical, integer, float or string)`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.vt.Normalize(tt.raw)
			if err == nil {
				t.Fatalf("Normalize(%#v) = %#v, want error", tt.raw, got)
			}
			if err.Error() != tt.message {
				t.Errorf("error = %q\nwant    %q", err, tt.message)
			}
			var ve *judge.ValueError
			if !errors.As(err, &ve) {
				t.Fatalf("error %T is not a *ValueError", err)
			}
			if ve.Kind != tt.vt.Effective() || !reflect.DeepEqual(ve.Got, tt.raw) || !reflect.DeepEqual(ve.Allowed, tt.allowed) {
				t.Errorf("ValueError = %+v, want Kind %q Got %#v Allowed %q", ve, tt.vt.Effective(), tt.raw, tt.allowed)
			}
		})
	}
}

func TestNormalizeIntegerLimits(t *testing.T) {
	vt := judge.ValueType{Type: judge.Integer}
	// 2^63 does not fit in an int64, though it is a whole float64.
	for _, raw := range []any{9.223372036854775808e18, "1e300", uint64(1 << 63)} {
		if got, err := vt.Normalize(raw); err == nil {
			t.Errorf("Normalize(%#v) = %#v, want error", raw, got)
		}
	}
	if got, err := vt.Normalize(json.Number("9007199254740993")); err != nil || got != int64(9007199254740993) {
		t.Errorf("Normalize(json.Number 2^53+1) = %#v, %v; want exact int64", got, err)
	}
}

func TestValueTypeString(t *testing.T) {
	one, five := 1.0, 5.0
	tests := []struct {
		v    judge.ValueType
		want string
	}{
		{judge.ValueType{Type: judge.Boolean}, "boolean (yes/no)"},
		{judge.ValueType{Values: []string{"good", "bad"}}, "categorical (good/bad)"},
		{judge.ValueType{Values: []string{"excellent", "good", "poor"}, Ordinal: true}, "ordinal categorical (excellent/good/poor)"},
		{judge.ValueType{Type: judge.Integer, Min: &one, Max: &five}, "integer [1, 5]"},
		{judge.ValueType{Type: judge.Float, Min: &one}, "float [1, +inf]"},
		{judge.ValueType{}, "string"},
	}
	for _, tt := range tests {
		if got := tt.v.String(); got != tt.want {
			t.Errorf("%+v: String() = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestNumber(t *testing.T) {
	for _, tt := range []struct {
		in   any
		want float64
		ok   bool
	}{
		{4.5, 4.5, true}, {int64(7), 7, true}, {uint8(3), 3, true}, {json.Number("2.5"), 2.5, true},
		{json.Number("x"), 0, false}, {math.NaN(), 0, false}, {math.Inf(1), 0, false}, {"4", 0, false}, {nil, 0, false},
	} {
		got, ok := judge.Number(tt.in)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("Number(%#v) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
