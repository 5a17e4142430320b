package judge

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestKnownMembersAreTheFields keeps knownMember in step with the struct:
// a field added to Judge (or its ValueType) without a name there would be
// decoded twice, as the field and as an unknown member.
func TestKnownMembersAreTheFields(t *testing.T) {
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			if f.Anonymous {
				walk(f.Type)
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if !knownMember(name) {
				t.Errorf("field %s (json %q) is not a known member", f.Name, name)
			}
		}
	}
	walk(reflect.TypeOf(Judge{}))
}

// TestUnknownMembersSurvive decodes a judge with members no alignhost has
// today, changes only its instructions, and encodes it: every other member
// comes back byte for byte.
func TestUnknownMembersSurvive(t *testing.T) {
	in := `{"name":"helpful","instructions":"Rate {{ outputs }}","type":"boolean",` +
		`"future_member":{"nested":[1,2.50,"x"],"flag":true},"a_later_string":"keep\u00e9 me"}`
	var j Judge
	if err := json.Unmarshal([]byte(in), &j); err != nil {
		t.Fatal(err)
	}
	if len(j.Extra) != 2 {
		t.Fatalf("Extra = %v, want the two unknown members", j.Extra)
	}
	c := j.Clone()
	c.Instructions = "Rate {{ outputs }} for {{ inputs }}"
	out, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if string(got["future_member"]) != `{"nested":[1,2.50,"x"],"flag":true}` || string(got["a_later_string"]) != `"keep\u00e9 me"` {
		t.Errorf("unknown members changed: %s", out)
	}
	if string(got["instructions"]) != `"Rate {{ outputs }} for {{ inputs }}"` {
		t.Errorf("instructions = %s", got["instructions"])
	}
	// A known member is never taken for an unknown one.
	var again Judge
	if err := json.Unmarshal(out, &again); err != nil {
		t.Fatal(err)
	}
	if len(again.Extra) != 2 || again.Name != "helpful" {
		t.Errorf("decoded again: Extra %v, name %q", again.Extra, again.Name)
	}
	// A judge without unknown members encodes as before.
	plain := Judge{Name: "n", Instructions: "{{ outputs }}"}
	b, _ := json.Marshal(plain)
	if strings.Contains(string(b), ",}") || !json.Valid(b) {
		t.Errorf("plain judge: %s", b)
	}
}
