package jsonscan

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// value is the JSON of the span, or "" where there is none.
func value(data []byte, s Span, ok bool) string {
	if !ok {
		return ""
	}
	return string(data[s.Start:s.End])
}

func TestMember(t *testing.T) {
	tests := []struct {
		name, data, member string
		at                 int
		want               string // the member's JSON; "" for none
	}{
		{"a string", `{"a":"x","b":1}`, "a", 0, `"x"`},
		{"a number", `{"a":"x","b":-1.5e3}`, "b", 0, `-1.5e3`},
		{"an object", `{"a":{"b":[1,{"c":"}"}]},"d":null}`, "a", 0, `{"b":[1,{"c":"}"}]}`},
		{"literals", `{"t":true,"f":false,"n":null}`, "n", 0, `null`},
		{"the last one counts", `{"a":1,"b":2,"a":3}`, "a", 0, `3`},
		{"an escaped key", `{"m\u0061nager":"k"}`, "manager", 0, `"k"`},
		{"a key full of brackets", `{"a\"}":1,"a":2}`, "a", 0, `2`},
		{"whitespace", " {\n\t\"a\" : [ 1 , 2 ] ,\r\n \"b\" : 3 } ", "a", 0, `[ 1 , 2 ]`},
		{"nested members are not the object's", `{"x":{"a":1},"y":2}`, "a", 0, ""},
		{"an inner object", `{"x":{"a":1},"y":2}`, "a", len(`{"x":`), `1`},
		{"missing", `{"a":1}`, "b", 0, ""},
		{"empty object", `{}`, "a", 0, ""},
		{"not an object", `[{"a":1}]`, "a", 0, ""},
		{"a string that looks like one", `"{\"a\":1}"`, "a", 0, ""},
		{"past the end", `{"a":1}`, "a", 10, ""},
		{"cut short", `{"a":`, "a", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ok := Member([]byte(tt.data), tt.at, tt.member)
			if got := value([]byte(tt.data), s, ok); got != tt.want {
				t.Errorf("Member(%s, %d, %q) = %q, want %q", tt.data, tt.at, tt.member, got, tt.want)
			}
		})
	}
}

func TestElements(t *testing.T) {
	tests := []struct {
		name, data string
		want       []string
	}{
		{"values of each kind", `[1,"a",{"b":"]"},[2,3],null,true]`, []string{`1`, `"a"`, `{"b":"]"}`, `[2,3]`, `null`, `true`}},
		{"whitespace", " [ 1 ,\n 2 ] ", []string{`1`, `2`}},
		{"empty", `[]`, nil},
		{"an object", `{"a":[1]}`, nil},
		{"a string", `"[1,2]"`, nil},
		{"empty input", ``, nil},
		{"cut short", `[1,"a`, []string{`1`, `"a`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.data)
			var got []string
			for e := range Elements(data, 0) {
				got = append(got, string(data[e.Start:e.End]))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Elements(%s) (-want +got):\n%s", tt.data, diff)
			}
		})
	}
}

func TestString(t *testing.T) {
	tests := []struct{ data, want string }{
		{`"plain"`, "plain"},
		{`"esc\u0061ped \"quotes\""`, `escaped "quotes"`},
		{`""`, ""},
		{`12`, ""},
		{`null`, ""},
		{`{"a":"b"}`, ""},
	}
	for _, tt := range tests {
		data := []byte(tt.data)
		if got := String(data, Span{0, len(data)}); got != tt.want {
			t.Errorf("String(%s) = %q, want %q", tt.data, got, tt.want)
		}
	}
}

// FuzzMember wants each member of any JSON object found as a decoder
// finds it, the last of the same name included, and anything else not
// to panic.
func FuzzMember(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":{"a":2},"a":[3]}`, ` { "a" : "x\"}" } `, `{"\u0061":null}`, `[]`, `"a"`, `{"a":`, `{"a"`} {
		f.Add(s, "a")
	}
	f.Fuzz(func(t *testing.T, data, name string) {
		s, ok := Member([]byte(data), 0, name) // of anything, without a panic
		for range Elements([]byte(data), 0) {
		}
		if !utf8.ValidString(data) || !utf8.ValidString(name) {
			return // a decoder replaces invalid UTF-8 in keys; the konnector's JSON is valid
		}
		var members map[string]json.RawMessage
		if json.Unmarshal([]byte(data), &members) != nil || members == nil {
			return // not an object: no reference
		}
		want, found := members[name]
		if ok != found {
			t.Fatalf("Member(%s, %q) found %v, a decoder %v", data, name, ok, found)
		}
		if ok && !sameJSON(t, want, []byte(data)[s.Start:s.End]) {
			t.Errorf("Member(%s, %q) = %s, a decoder %s", data, name, []byte(data)[s.Start:s.End], want)
		}
	})
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var ca, cb bytes.Buffer
	if err := json.Compact(&ca, a); err != nil {
		t.Fatalf("compacting %s: %v", a, err)
	}
	if err := json.Compact(&cb, b); err != nil {
		t.Fatalf("compacting %s: %v", b, err)
	}
	return slices.Equal(ca.Bytes(), cb.Bytes())
}
