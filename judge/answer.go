package judge

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// stepByStep is a phrase MLflow strips from rationales; some prompts make
// models begin with it.
const stepByStep = "Let's think step by step. "

// AnswerError reports a model answer that does not hold a usable judgement.
type AnswerError struct {
	// Text is the model's answer, as given.
	Text string
	// Reason says what is wrong with it.
	Reason string
	// Err is the underlying error, such as a *ValueError when the result
	// does not fit the value type; it may be nil.
	Err error
}

func (e *AnswerError) Error() string {
	text := e.Text
	if len(text) > 200 {
		cut := 200
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut] + "…"
	}
	return fmt.Sprintf("judge answer is unusable: %s (answer %q)", e.Reason, text)
}

func (e *AnswerError) Unwrap() error { return e.Err }

// The keys ParseAnswer accepts, in order of preference.
var (
	resultKeys    = [...]string{"result", "value", "score"}
	rationaleKeys = [...]string{"rationale", "reasoning"}
)

// ParseAnswer extracts the judgement from a model's answer: a JSON object
// with "result" and "rationale". It tolerates what models wrap around it: a
// markdown code fence (with or without a language tag, possibly after some
// prose) or prose around the object, in which case the first balanced JSON
// object that decodes is used. "value" and "score" are accepted for
// "result", "reasoning" for "rationale", in any letter case. The value is
// normalised with [ValueType.Normalize]; the rationale is trimmed, without
// the phrase "Let's think step by step. ".
//
// It fails with an *AnswerError when no JSON object is found, the object has
// no result, or the result does not fit the judge's value type.
func (j *Judge) ParseAnswer(text string) (value any, rationale string, err error) {
	obj, err := findObject(text)
	if err != nil {
		return nil, "", &AnswerError{Text: text, Reason: err.Error()}
	}
	raw, ok := lookup(obj, resultKeys[:])
	if !ok {
		reason := `no "result" key in the JSON object`
		if e, ok := lookup(obj, []string{"error"}); ok {
			reason = "the model reported an error: " + valueText(e)
		}
		return nil, "", &AnswerError{Text: text, Reason: reason}
	}
	value, err = j.ValueType.Normalize(raw)
	if err != nil {
		return nil, "", &AnswerError{Text: text, Reason: err.Error(), Err: err}
	}
	if r, ok := lookup(obj, rationaleKeys[:]); ok && r != nil {
		rationale = valueText(r)
	}
	rationale = strings.TrimSpace(strings.ReplaceAll(rationale, stepByStep, ""))
	return value, rationale, nil
}

// lookup returns the value of the first of keys present in obj, matching
// keys exactly first and then ignoring case.
func lookup(obj map[string]any, keys []string) (any, bool) {
	for _, k := range keys {
		if v, ok := obj[k]; ok {
			return v, true
		}
	}
	for _, k := range keys {
		for name, v := range obj {
			if strings.EqualFold(strings.TrimSpace(name), k) {
				return v, true
			}
		}
	}
	return nil, false
}

// findObject returns the JSON object in text: the whole text, the content
// of its first code fence, or the first balanced object in it that decodes.
func findObject(text string) (map[string]any, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, errors.New("the answer is empty")
	}
	if obj, ok := decodeObject(text); ok {
		return obj, nil
	}
	if fenced, ok := fenceContent(text); ok {
		if obj, ok := decodeObject(fenced); ok {
			return obj, nil
		}
		text = fenced + "\n" + text
	}
	for start := strings.IndexByte(text, '{'); start >= 0; {
		end := balancedEnd(text[start:])
		if end > 0 {
			if obj, ok := decodeObject(text[start : start+end]); ok {
				return obj, nil
			}
		}
		next := strings.IndexByte(text[start+1:], '{')
		if next < 0 {
			break
		}
		start += 1 + next
	}
	return nil, errors.New("no JSON object found")
}

// decodeObject decodes s as one JSON object, keeping numbers exact.
func decodeObject(s string) (map[string]any, bool) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil, false
	}
	// Nothing but space may follow the object.
	if _, err := dec.Token(); err == nil {
		return nil, false
	}
	return obj, true
}

// fenceContent returns the content of the first ``` code fence in text,
// without its language tag. An unclosed fence runs to the end of text.
func fenceContent(text string) (string, bool) {
	open := strings.Index(text, "```")
	if open < 0 {
		return "", false
	}
	rest := text[open+3:]
	// The rest of the opening line is the language tag ("json", "JSON", …);
	// a fence written on one line ("```{...}```") has none.
	if nl := strings.IndexByte(rest, '\n'); nl >= 0 && !strings.ContainsRune(rest[:nl], '{') {
		rest = rest[nl+1:]
	}
	if end := strings.Index(rest, "```"); end >= 0 {
		rest = rest[:end]
	}
	return strings.TrimSpace(rest), true
}

// balancedEnd returns the length of the balanced {…} at the start of s,
// skipping braces inside JSON strings, or 0 when it is not closed.
func balancedEnd(s string) int {
	depth := 0
	inString, escaped := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inString && escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case inString && c == '"':
			inString = false
		case inString:
		case c == '"':
			inString = true
		case c == '{':
			depth++
		case c == '}':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return 0
}
