package judge

import (
	"encoding/json"
	"fmt"
)

// QueryVariable returns the input field whose text an aligned judge embeds
// to find similar stored examples: the first of inputs, outputs,
// expectations and trace that the judge's instructions use (MLflow's rule,
// which embeds the request of the application, not its answer, for most
// judges). A session-level judge has none.
func (j *Judge) QueryVariable() (Variable, error) {
	vars, err := j.Variables()
	if err != nil {
		return "", err
	}
	for _, v := range vars {
		switch v {
		case Inputs, Outputs, Expectations, Trace:
			return v, nil
		}
	}
	return "", fmt.Errorf("judge %q has no field to retrieve examples by: it uses only {{ conversation }}", j.Name)
}

// Field returns the text of the example's input field v: its inputs,
// outputs or trace text, or its expectations as JSON (keys sorted).
func (e *Example) Field(v Variable) string {
	switch v {
	case Inputs:
		return e.Inputs
	case Outputs:
		return e.Outputs
	case Trace:
		return e.Trace
	case Expectations:
		return ExpectationsText(e.Expectations)
	}
	return ""
}

// ExpectationsText renders expectations as the text that is embedded for
// retrieval: compact JSON with sorted keys, or "" when there are none.
func ExpectationsText(expectations map[string]any) string {
	if len(expectations) == 0 {
		return ""
	}
	b, err := json.Marshal(expectations)
	if err != nil {
		return fmt.Sprint(expectations)
	}
	return string(b)
}
