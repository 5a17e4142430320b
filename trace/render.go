package trace

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// A judge sees a trace's inputs and outputs as text. The rules follow
// MLflow's parse_inputs_to_str and parse_outputs_to_str; values that are not
// text are written as JSON with Python's separators (", " and ": "), keys in
// the order the trace recorded them, and non-ASCII characters kept as they
// are.

// object is a JSON object that remembers its key order.
type object struct {
	keys []string
	vals map[string]any
}

func (o *object) get(key string) any {
	if o == nil {
		return nil
	}
	return o.vals[key]
}

// parseOrdered decodes JSON into nil, bool, json.Number, string, []any and
// *object values, keeping object key order.
func parseOrdered(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := parseOrderedValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("invalid JSON: more than one value")
	}
	return v, nil
}

func parseOrderedValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	switch tok := tok.(type) {
	case json.Delim:
		switch tok {
		case '[':
			list := []any{}
			for dec.More() {
				v, err := parseOrderedValue(dec)
				if err != nil {
					return nil, err
				}
				list = append(list, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return list, nil
		case '{':
			obj := &object{vals: map[string]any{}}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key, _ := kt.(string)
				v, err := parseOrderedValue(dec)
				if err != nil {
					return nil, err
				}
				if _, dup := obj.vals[key]; !dup {
					obj.keys = append(obj.keys, key)
				}
				obj.vals[key] = v
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return obj, nil
		}
		return nil, errors.New("invalid JSON")
	}
	return tok, nil
}

// toOrdered converts v for rendering: json.RawMessage is parsed keeping key
// order; Go maps are ordered by key; other Go values go through
// encoding/json.
func toOrdered(v any) any {
	switch v := v.(type) {
	case nil, bool, string, json.Number, *object:
		return v
	case json.RawMessage:
		if o, err := parseOrdered(v); err == nil {
			return o
		}
		return string(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = toOrdered(e)
		}
		return out
	case map[string]any:
		obj := &object{keys: sortedKeys(v), vals: make(map[string]any, len(v))}
		for k, e := range v {
			obj.vals[k] = toOrdered(e)
		}
		return obj
	}
	b, err := marshalJSON(v)
	if err != nil {
		return nil
	}
	o, err := parseOrdered(b)
	if err != nil {
		return nil
	}
	return o
}

// pyJSON writes an ordered value as Python's json.dumps does by default,
// except that non-ASCII characters are not escaped.
func pyJSON(v any) string {
	var b strings.Builder
	writePyJSON(&b, toOrdered(v))
	return b.String()
}

func writePyJSON(b *strings.Builder, v any) {
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if v {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case json.Number:
		b.WriteString(v.String())
	case string:
		s, _ := marshalJSON(v)
		b.Write(s)
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			writePyJSON(b, e)
		}
		b.WriteByte(']')
	case *object:
		b.WriteByte('{')
		for i, k := range v.keys {
			if i > 0 {
				b.WriteString(", ")
			}
			s, _ := marshalJSON(k)
			b.Write(s)
			b.WriteString(": ")
			writePyJSON(b, v.vals[k])
		}
		b.WriteByte('}')
	}
}

// InputsText renders a trace's inputs as the text a judge sees for
// {{ inputs }}, by MLflow's rules:
//
//   - null (or nothing) is a single space " ";
//   - a string is itself;
//   - an object with a non-empty "messages" list: when there are several
//     messages and every content is a string, the JSON of the whole list;
//     otherwise the last message's content when it is a string;
//   - anything else is JSON.
//
// MLflow renders a plain object input with Python's str() ({'question':
// '…'}); alignhost writes JSON ({"question": "…"}) instead, deliberately, so
// the text is the same in every language.
//
// v may be a decoded JSON value or a json.RawMessage; a RawMessage keeps its
// key order in the JSON written.
func InputsText(v any) string {
	n := toOrdered(v)
	switch n := n.(type) {
	case nil:
		return " "
	case string:
		return n
	case *object:
		if msgs, ok := n.get("messages").([]any); ok && len(msgs) > 0 {
			contents := make([]any, len(msgs))
			allText := true
			for i, m := range msgs {
				if o, ok := m.(*object); ok {
					contents[i] = o.get("content")
				}
				if _, ok := contents[i].(string); !ok {
					allText = false
				}
			}
			if len(msgs) > 1 && allText {
				return pyJSON(msgs)
			}
			if s, ok := contents[len(contents)-1].(string); ok {
				return s
			}
		}
	}
	return pyJSON(n)
}

// OutputsText renders a trace's outputs as the text a judge sees for
// {{ outputs }}, by MLflow's rules:
//
//   - null (or nothing) is a single space " ";
//   - a string is itself;
//   - a non-empty list is rendered as its first element;
//   - an OpenAI chat completion is choices[0].message.content;
//   - an object with a "messages" list whose last message has string
//     content is that content;
//   - an OpenAI Responses API result is the text of its assistant messages'
//     output_text parts, one part per line;
//   - anything else is JSON.
//
// v may be a decoded JSON value or a json.RawMessage, as for [InputsText].
func OutputsText(v any) string {
	return outputsText(toOrdered(v))
}

func outputsText(n any) string {
	switch n := n.(type) {
	case nil:
		return " "
	case string:
		return n
	case []any:
		if len(n) > 0 {
			return outputsText(n[0])
		}
	case *object:
		if choices, ok := n.get("choices").([]any); ok && len(choices) > 0 {
			if c, ok := choices[0].(*object); ok {
				if m, ok := c.get("message").(*object); ok {
					if s, ok := m.get("content").(string); ok {
						return s
					}
				}
			}
		}
		if msgs, ok := n.get("messages").([]any); ok && len(msgs) > 0 {
			if m, ok := msgs[len(msgs)-1].(*object); ok {
				if s, ok := m.get("content").(string); ok {
					return s
				}
			}
		}
		if s, ok := responsesText(n); ok {
			return s
		}
	}
	return pyJSON(n)
}

// responsesText extracts the assistant text of an OpenAI Responses API
// result: the output_text parts of its output messages.
func responsesText(n *object) (string, bool) {
	items, ok := n.get("output").([]any)
	if !ok {
		return "", false
	}
	var texts []string
	for _, it := range items {
		item, ok := it.(*object)
		if !ok || item.get("type") != "message" {
			continue
		}
		if role, ok := item.get("role").(string); ok && role != "assistant" {
			continue
		}
		parts, _ := item.get("content").([]any)
		for _, p := range parts {
			part, ok := p.(*object)
			if !ok || part.get("type") != "output_text" {
				continue
			}
			if s, ok := part.get("text").(string); ok {
				texts = append(texts, s)
			}
		}
	}
	if len(texts) == 0 {
		return "", false
	}
	return strings.Join(texts, "\n"), true
}

// valueText renders any span value for reading: a string as itself,
// anything else as JSON.
func valueText(v any) string {
	if s, ok := toOrdered(v).(string); ok {
		return s
	}
	return pyJSON(v)
}
