package judge

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
)

// fingerprintVersion names the way a judge's prompt is built. It is part of
// every fingerprint, so changing how requests are rendered must change it:
// judgements cached under the old prompt then no longer match.
const fingerprintVersion = "alignhost.judge.v1"

// Clone returns a deep copy of the judge: nothing is shared between the copy
// and j.
func (j *Judge) Clone() *Judge {
	c := *j
	c.ValueType = j.ValueType.clone()
	c.InferenceParams, _ = copyAny(j.InferenceParams).(map[string]any)
	if j.Memory != nil {
		m := *j.Memory
		m.Guidelines = slices.Clone(m.Guidelines)
		for i := range m.Guidelines {
			m.Guidelines[i].SourceTraceIDs = slices.Clone(m.Guidelines[i].SourceTraceIDs)
		}
		m.Examples = slices.Clone(m.Examples)
		for i := range m.Examples {
			ex := &m.Examples[i]
			ex.Expectations, _ = copyAny(ex.Expectations).(map[string]any)
			ex.Value = copyAny(ex.Value)
			ex.Embedding = slices.Clone(ex.Embedding)
		}
		c.Memory = &m
	}
	if j.Provenance != nil {
		p := *j.Provenance
		c.Provenance = &p
	}
	if j.Extra != nil {
		c.Extra = make(map[string]json.RawMessage, len(j.Extra))
		for k, v := range j.Extra {
			c.Extra[k] = slices.Clone(v)
		}
	}
	return &c
}

func (v ValueType) clone() ValueType {
	c := v
	c.Values = slices.Clone(v.Values)
	if v.Min != nil {
		f := *v.Min
		c.Min = &f
	}
	if v.Max != nil {
		f := *v.Max
		c.Max = &f
	}
	return c
}

// copyAny returns a deep copy of v: maps, slices, pointers and the values
// inside interfaces are copied recursively; other values are copied as Go
// copies them.
func copyAny(v any) any {
	if v == nil {
		return nil
	}
	return copyValue(reflect.ValueOf(v)).Interface()
}

func copyValue(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		m := reflect.MakeMapWithSize(v.Type(), v.Len())
		for iter := v.MapRange(); iter.Next(); {
			m.SetMapIndex(iter.Key(), copyValue(iter.Value()))
		}
		return m
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		s := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			s.Index(i).Set(copyValue(v.Index(i)))
		}
		return s
	case reflect.Interface:
		if v.IsNil() {
			return v
		}
		c := reflect.New(v.Type()).Elem()
		c.Set(copyValue(v.Elem()))
		return c
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		p := reflect.New(v.Type().Elem())
		p.Elem().Set(copyValue(v.Elem()))
		return p
	}
	return v
}

// Fingerprint returns the SHA-256, in hex, of everything that determines
// what the judge asks a model: its instructions, model, value type,
// inference parameters and memory (guideline texts, examples and retrieval
// settings), plus the version of the prompt format of this package. Two
// judges with the same fingerprint ask the same question of the same model,
// so a judgement made by one stands for the other.
//
// The name, description, built-in origin and provenance do not count, nor
// do an example's trace ID, feedback time or a guideline's sources. An empty
// Model is fingerprinted as empty: resolve the default model first when it
// matters. A Categorical type given only by its values fingerprints like one
// whose Type is set.
func (j *Judge) Fingerprint() string {
	type example struct {
		Inputs       string         `json:"inputs"`
		Outputs      string         `json:"outputs"`
		Trace        string         `json:"trace"`
		Expectations map[string]any `json:"expectations"`
		Value        any            `json:"value"`
		Rationale    string         `json:"rationale"`
		Embedding    []float32      `json:"embedding"`
	}
	type memory struct {
		Guidelines []string  `json:"guidelines"`
		Examples   []example `json:"examples"`
		Retrieval  Retrieval `json:"retrieval"`
	}
	payload := struct {
		Version         string         `json:"version"`
		Instructions    string         `json:"instructions"`
		Model           string         `json:"model"`
		Type            Kind           `json:"type"`
		Values          []string       `json:"values"`
		Min             *float64       `json:"min"`
		Max             *float64       `json:"max"`
		InferenceParams map[string]any `json:"inference_params"`
		Memory          *memory        `json:"memory"`
	}{
		Version:         fingerprintVersion,
		Instructions:    j.Instructions,
		Model:           j.Model,
		Type:            j.Effective(),
		Values:          j.Values,
		Min:             j.Min,
		Max:             j.Max,
		InferenceParams: j.InferenceParams,
	}
	if m := j.Memory; m != nil {
		fm := &memory{Retrieval: m.Retrieval}
		for _, g := range m.Guidelines {
			fm.Guidelines = append(fm.Guidelines, g.Text)
		}
		for _, ex := range m.Examples {
			value := ex.Value
			if v, err := j.ValueType.Normalize(ex.Value); err == nil {
				value = v
			}
			fm.Examples = append(fm.Examples, example{
				Inputs: ex.Inputs, Outputs: ex.Outputs, Trace: ex.Trace,
				Expectations: ex.Expectations, Value: value, Rationale: ex.Rationale,
				Embedding: ex.Embedding,
			})
		}
		payload.Memory = fm
	}
	// encoding/json writes struct fields in declaration order and map keys
	// sorted, so the encoding is canonical. A judge that fails validation
	// may hold values JSON cannot encode; it still gets a stable
	// fingerprint from Go's own formatting, which also sorts map keys.
	data, err := json.Marshal(payload)
	if err != nil {
		data = fmt.Appendf(nil, "%#v", payload)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// UnmarshalJSON decodes a judge from JSON. Values of type any decode as
// encoding/json decodes them (float64, string, bool, []any,
// map[string]any), except each memory example's Value, which is normalised
// to the judge's value type when it fits (so an Integer judge's example
// values are int64, as [ValueType.Normalize] returns them). Values that do
// not fit are kept as decoded, for [Judge.Validate] to report.
//
// Hold a Judge in a named field rather than embedding it: an embedded Judge
// would promote this method and decode the whole enclosing object.
//
// Members the package does not know are kept in Extra.
func (j *Judge) UnmarshalJSON(data []byte) error {
	type plain Judge // plain has Judge's fields but not this method
	var p plain
	if err := json.Unmarshal(data, &p); err != nil {
		return err
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return err
	}
	p.Extra = nil
	for k, v := range members {
		if !knownMember(k) {
			if p.Extra == nil {
				p.Extra = map[string]json.RawMessage{}
			}
			p.Extra[k] = v
		}
	}
	*j = Judge(p)
	j.normalizeExamples()
	return nil
}

// MarshalJSON encodes the judge with the members of Extra after the ones
// the package knows, in the order of their names.
func (j Judge) MarshalJSON() ([]byte, error) {
	type plain Judge
	b, err := json.Marshal(plain(j))
	if err != nil || len(j.Extra) == 0 {
		return b, err
	}
	keys := make([]string, 0, len(j.Extra))
	for k := range j.Extra {
		if !knownMember(k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	out := b[:len(b)-1] // without the closing brace
	for _, k := range keys {
		name, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		v := j.Extra[k]
		if len(v) == 0 {
			v = json.RawMessage("null")
		}
		if !json.Valid(v) {
			return nil, fmt.Errorf("judge %s: member %s is not valid JSON", j.Name, name)
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, name...)
		out = append(out, ':')
		out = append(out, v...)
	}
	return append(out, '}'), nil
}

// knownMember reports whether name is a member of the judge's JSON that
// this package decodes into a field.
func knownMember(name string) bool {
	switch name {
	case "name", "description", "instructions", "model", "type", "values", "ordinal", "min", "max",
		"inference_params", "builtin", "memory", "provenance":
		return true
	}
	return false
}

// normalizeExamples replaces each memory example's value by its canonical
// form when it fits the value type.
func (j *Judge) normalizeExamples() {
	if j.Memory == nil {
		return
	}
	for i := range j.Memory.Examples {
		ex := &j.Memory.Examples[i]
		if v, err := j.ValueType.Normalize(ex.Value); err == nil {
			ex.Value = v
		}
	}
}
