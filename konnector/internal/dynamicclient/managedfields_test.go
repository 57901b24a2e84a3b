package dynamicclient

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	kjson "sigs.k8s.io/json"
)

// withManagers is a typical object after a create, a finalizer and a
// status: three managed fields entries, each with its field tree.
const withManagers = `{"apiVersion":"example.com/v1","kind":"Database","metadata":{"name":"db","namespace":"ns","finalizers":["f"],"managedFields":[` +
	`{"apiVersion":"example.com/v1","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{".":{},"f:size":{}}},"manager":"kubectl","operation":"Update","time":"2026-11-30T13:09:00Z"},` +
	`{"apiVersion":"example.com/v1","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:finalizers":{".":{},"v:\"f\"":{}}}},"manager":"bindery-konnector","operation":"Update","time":"2026-11-30T13:09:01Z"},` +
	`{"apiVersion":"example.com/v1","fieldsType":"FieldsV1","fieldsV1":{"f:status":{"f:phase":{}}},"manager":"operator","operation":"Update","subresource":"status","time":"2026-11-30T13:09:02Z"}` +
	`]},"spec":{"size":3},"status":{"phase":"Ready"}}`

// keptManagers is the reference of managedFieldsOf: obj decoded, less
// the managed fields entries keep does not accept.
func keptManagers(t testing.TB, obj []byte, keep func(string) bool) any {
	t.Helper()
	var v any
	if err := kjson.UnmarshalCaseSensitivePreserveInts(obj, &v); err != nil {
		t.Fatalf("decoding %s: %v", obj, err)
	}
	root, _ := v.(map[string]any)
	md, _ := root["metadata"].(map[string]any)
	entries, ok := md["managedFields"].([]any)
	if !ok {
		return v
	}
	kept := []any{}
	for _, e := range entries {
		entry, _ := e.(map[string]any)
		manager, _ := entry["manager"].(string)
		if keep(manager) {
			kept = append(kept, e)
		}
	}
	md["managedFields"] = kept
	return v
}

func decodeJSON(t testing.TB, data []byte) any {
	t.Helper()
	var v any
	if err := kjson.UnmarshalCaseSensitivePreserveInts(data, &v); err != nil {
		t.Fatalf("decoding %s: %v", data, err)
	}
	return v
}

// only keeps the entries of managers.
func only(managers ...string) func(string) bool {
	return func(m string) bool { return slices.Contains(managers, m) }
}

func TestManagedFieldsOf(t *testing.T) {
	pretty := func(s string) string {
		var v any
		_ = json.Unmarshal([]byte(s), &v)
		b, _ := json.MarshalIndent(v, "", "\t")
		return string(b)
	}
	tests := []struct {
		name string
		obj  string
		keep func(string) bool
		// entries are the managers of the entries left, if any are.
		entries []string
	}{
		{"none kept", withManagers, only(), []string{}},
		{"one manager kept", withManagers, only("bindery-konnector"), []string{"bindery-konnector"}},
		{"two kept, in their order", withManagers, only("operator", "kubectl"), []string{"kubectl", "operator"}},
		{"all kept", withManagers, func(string) bool { return true }, []string{"kubectl", "bindery-konnector", "operator"}},
		{"indented", pretty(withManagers), only("operator"), []string{"operator"}},
		{"escaped keys and managers", `{"metadata":{"m\u0061nagedFields":[{"manager":"bindery-\u006bonnector"},{"m\u0061nager":"x"},{"manager":"a\"]}{["}]}}`, only("bindery-konnector"), []string{"bindery-konnector"}},
		{"strings full of brackets", `{"spec":{"a":"]}\"{[","b":["}"]},"metadata":{"annotations":{"x":"{\"managedFields\":[]}"},"managedFields":[{"manager":"k","fieldsV1":{"f:\"]}":{}}},{"manager":"j"}]},"status":"[{"}`, only("k"), []string{"k"}},
		{"numbers and literals", `{"metadata":{"generation":12,"managedFields":[{"manager":"k","n":-1.5e3,"t":true,"f":false,"z":null},{"manager":"j"}],"x":null}}`, only("k"), []string{"k"}},
		{"entries without a manager or not objects", `{"metadata":{"managedFields":[{"operation":"Update"},7,"s",null,[],{"manager":9},{"manager":"k"}]}}`, only("", "k"), []string{"", "", "", "", "", "", "k"}},
		{"the last metadata counts", `{"metadata":{"managedFields":[{"manager":"j"}]},"metadata":{"managedFields":[{"manager":"k"},{"manager":"j"}]}}`, only("k"), []string{"k"}},
		{"the last manager counts", `{"metadata":{"managedFields":[{"manager":"k","manager":"j"},{"manager":"j","manager":"k"}]}}`, only("k"), []string{"k"}},
		{"the last managedFields counts", `{"metadata":{"managedFields":[{"manager":"k"}],"managedFields":[{"manager":"j"},{"manager":"k"}]}}`, only("k"), []string{"k"}},
		{"managed fields elsewhere untouched", `{"spec":{"metadata":{"managedFields":[{"manager":"j"}]}},"metadata":{"name":"x"}}`, only(), nil},
		{"empty managed fields", `{"metadata":{"managedFields":[]}}`, only(), []string{}},
		{"null managed fields", `{"metadata":{"managedFields":null}}`, only(), nil},
		{"managed fields of another type", `{"metadata":{"managedFields":{"manager":"j"}}}`, only(), nil},
		{"metadata of another type", `{"metadata":[{"managedFields":[]}]}`, only(), nil},
		{"no metadata", `{"spec":{}}`, only(), nil},
		{"empty object", `{}`, only(), nil},
		{"not an object", `[{"metadata":{"managedFields":[{"manager":"j"}]}}]`, only(), nil},
		{"null", `null`, only(), nil},
		{"a string", `"metadata"`, only(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := managedFieldsOf([]byte(tt.obj), tt.keep)
			if !json.Valid(got) {
				t.Fatalf("not JSON: %s", got)
			}
			want := keptManagers(t, []byte(tt.obj), tt.keep)
			if diff := cmp.Diff(want, decodeJSON(t, got)); diff != "" {
				t.Errorf("decoded differently from the reference (-want +got):\n%s", diff)
			}
			var managers []string
			root, _ := decodeJSON(t, got).(map[string]any)
			if md, ok := root["metadata"].(map[string]any); ok {
				if entries, ok := md["managedFields"].([]any); ok {
					managers = []string{}
					for _, e := range entries {
						entry, _ := e.(map[string]any)
						m, _ := entry["manager"].(string)
						managers = append(managers, m)
					}
				}
			}
			if diff := cmp.Diff(tt.entries, managers); diff != "" {
				t.Errorf("entries left (-want +got):\n%s", diff)
			}
		})
	}
}

// TestManagedFieldsOfLeavesItsInput wants obj as it was, and not shared
// by a result that leaves entries out: obj is a decoder's buffer, which
// the decoder reuses.
func TestManagedFieldsOfLeavesItsInput(t *testing.T) {
	obj := []byte(withManagers)
	got := managedFieldsOf(obj, only())
	if string(obj) != withManagers {
		t.Errorf("input changed: %s", obj)
	}
	got[0] = 'x'
	if obj[0] != '{' {
		t.Error("the result shares the input's bytes")
	}
}

// TestManagedFieldsOfWithNothingToSkip wants an object without managed
// fields handed back as it is, not copied: both callers decode the result
// at once.
func TestManagedFieldsOfWithNothingToSkip(t *testing.T) {
	obj := []byte(`{"metadata":{"name":"db"},"spec":{}}`)
	if got := managedFieldsOf(obj, only()); &got[0] != &obj[0] {
		t.Error("an object without managed fields was copied")
	}
}

// FuzzManagedFieldsOf wants any JSON to decode as the reference says,
// and anything else not to panic.
func FuzzManagedFieldsOf(f *testing.F) {
	for _, s := range []string{withManagers, `{"metadata":{"managedFields":[{"manager":"k\u0022"},{"manager":"j"}]}}`, `[]`, `1`, ` { "metadata" : { "managedFields" : [ { "manager" : "k" } , 3 ] } } `,
		`{"metadata":{"managedFields":`, `{"metadata":`, `{"metadata":{"managedFields":[{"manager":"k","x":`, `{"metadata":{"managedFields":[{"manager":"k`} {
		f.Add(s)
	}
	keep := func(m string) bool { return strings.HasPrefix(m, "k") }
	f.Fuzz(func(t *testing.T, obj string) {
		got := managedFieldsOf([]byte(obj), keep) // of anything, without a panic
		if !json.Valid([]byte(obj)) {
			return
		}
		if !json.Valid(got) {
			t.Fatalf("not JSON: %s", got)
		}
		var v any
		if kjson.UnmarshalCaseSensitivePreserveInts([]byte(obj), &v) != nil {
			return // JSON the decoder refuses (a number out of range)
		}
		if diff := cmp.Diff(keptManagers(t, []byte(obj), keep), decodeJSON(t, got)); diff != "" {
			t.Errorf("decoded differently from the reference (-want +got):\n%s", diff)
		}
	})
}

// BenchmarkManagedFieldsOf decodes withManagers whole and without the
// entries of other managers.
func BenchmarkManagedFieldsOf(b *testing.B) {
	obj := []byte(withManagers)
	for _, bc := range []struct {
		name   string
		decode func() error
	}{
		{"whole", func() error {
			var m map[string]any
			return kjson.UnmarshalCaseSensitivePreserveInts(obj, &m)
		}},
		{"one manager", func() error {
			var m map[string]any
			return kjson.UnmarshalCaseSensitivePreserveInts(managedFieldsOf(obj, only("bindery-konnector")), &m)
		}},
		{"none", func() error {
			var m map[string]any
			return kjson.UnmarshalCaseSensitivePreserveInts(managedFieldsOf(obj, only()), &m)
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := bc.decode(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
