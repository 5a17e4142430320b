package trace

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzSplit checks the splitting of valid JSON against encoding/json:
// splitObject and splitArray return what Unmarshal into a map or a slice
// of raw values returns, unquote what Unmarshal into a string returns, and
// validString accepts exactly the strings json.Valid accepts.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{
		`{}`, `[]`, `{"a":1,"b":[1,2,{"c":"}"}],"a":"x"}`, ` { "k" : "v\"}" , "e":{} } `,
		`["a\\",{"b":null},true,-1.5e3]`, `"plain"`, `"esc\n\u00e9\ud83d\ude00"`, `"\\"`, `"bad\x01"`,
		`{"\u006b":"dup","k":"last"}`, `"\xff\xfe"`, `[ ]`, `{"a":[[[]]]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		exact := len(data) > 1 && data[0] == '"' && data[len(data)-1] == '"' && json.Valid(data)
		if validString(data) != exact {
			t.Fatalf("validString(%q) = %v, json.Valid says otherwise", data, validString(data))
		}
		if !json.Valid(data) {
			return
		}
		var wantMap map[string]json.RawMessage
		if json.Unmarshal(data, &wantMap) == nil {
			got, err := splitObject(data)
			if err != nil || !reflect.DeepEqual(got, wantMap) {
				t.Fatalf("splitObject(%q) = %q, %v; want %q", data, got, err, wantMap)
			}
		} else if _, err := splitObject(data); err == nil {
			t.Fatalf("splitObject(%q) split a value that is not an object", data)
		}
		var wantList []json.RawMessage
		if json.Unmarshal(data, &wantList) == nil && wantList != nil {
			got, err := splitArray(data)
			if err != nil || !reflect.DeepEqual(got, wantList) {
				t.Fatalf("splitArray(%q) = %q, %v; want %q", data, got, err, wantList)
			}
		} else if bytes.TrimSpace(data)[0] != '[' {
			if _, err := splitArray(data); err == nil {
				t.Fatalf("splitArray(%q) split a value that is not an array", data)
			}
		}
		var wantString string
		trimmed := bytes.TrimSpace(data)
		if json.Unmarshal(data, &wantString) == nil && trimmed[0] == '"' {
			got, ok := unquote(trimmed)
			if !ok || got != wantString {
				t.Fatalf("unquote(%q) = %q, %v; want %q", trimmed, got, ok, wantString)
			}
		}
	})
}
