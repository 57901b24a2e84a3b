package dynamicclient

import (
	"bytes"
	"iter"

	kjson "sigs.k8s.io/json"
)

// An object's managed fields are often most of its JSON: an entry for
// every field manager that wrote it, each with the tree of the fields it
// owns (fieldsV1), which decodes into a map for every field. An informer
// that drops them, or keeps the entries of one manager, still decodes
// them all. A client made by OnlyManagedFieldsOf skips the entries of
// other managers in the JSON of each watch event and response before
// decoding it, so that they are never allocated.

// managedFieldsOf returns obj, the JSON of an object, as a new slice
// without the entries of its metadata.managedFields whose manager keep
// does not accept (keep sees "" for an entry whose manager is missing or
// not a string). Decoded, it is what obj decodes to, less those
// entries; where obj is not laid out as an object with its metadata
// (not an object, no managed fields, a field of another type), it is a
// copy of obj. obj is to be valid JSON, as a decoder hands it to an
// Unmarshaler: of anything else, the result is some slice, and no panic.
func managedFieldsOf(obj []byte, keep func(manager string) bool) []byte {
	md, ok := member(obj, 0, "metadata")
	if !ok {
		return bytes.Clone(obj)
	}
	entries, ok := member(obj, md.start, "managedFields")
	if !ok || obj[entries.start] != '[' {
		return bytes.Clone(obj)
	}
	out := make([]byte, 0, len(obj))
	out = append(out, obj[:entries.start]...)
	out = append(out, '[')
	kept := 0
	for e := range elements(obj, entries.start) {
		manager := "" // as the entry decodes, for one with no manager or of another type
		if m, ok := member(obj, e.start, "manager"); ok {
			manager = stringAt(obj, m)
		}
		if keep(manager) {
			if kept > 0 {
				out = append(out, ',')
			}
			out = append(out, obj[e.start:e.end]...)
			kept++
		}
	}
	out = append(out, ']')
	return append(out, obj[entries.end:]...)
}

// span is where a JSON value is in a document: [start, end).
type span struct{ start, end int }

// member returns the value of the last member named name of the object
// at data[at] (the one a decoder keeps), or false if data[at] is no
// object or has no such member.
func member(data []byte, at int, name string) (span, bool) {
	at = skipSpace(data, at)
	if at >= len(data) || data[at] != '{' {
		return span{}, false
	}
	var found span
	ok := false
	i := skipSpace(data, at+1)
	for i < len(data) && data[i] == '"' {
		key := span{i, skipString(data, i)}
		i = skipSpace(data, key.end)
		if i >= len(data) || data[i] != ':' {
			return span{}, false
		}
		start := skipSpace(data, i+1)
		if start >= len(data) {
			return span{}, false
		}
		value := span{start, skipValue(data, start)}
		if stringIs(data, key, name) {
			found, ok = value, true
		}
		i = skipSpace(data, value.end)
		if i < len(data) && data[i] == ',' {
			i = skipSpace(data, i+1)
		}
	}
	return found, ok
}

// elements yields the values of the array at data[at].
func elements(data []byte, at int) iter.Seq[span] {
	return func(yield func(span) bool) {
		i := skipSpace(data, at+1)
		for i < len(data) && data[i] != ']' {
			e := span{i, skipValue(data, i)}
			if e.end <= i || !yield(e) {
				return // not valid JSON, or the caller is done
			}
			i = skipSpace(data, e.end)
			if i < len(data) && data[i] == ',' {
				i = skipSpace(data, i+1)
			}
		}
	}
}

// stringAt decodes the JSON string at s; anything else is "".
func stringAt(data []byte, s span) string {
	raw := data[s.start:s.end]
	if len(raw) < 2 || raw[0] != '"' {
		return ""
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1])
	}
	var v string
	_ = kjson.UnmarshalCaseSensitivePreserveInts(raw, &v)
	return v
}

// stringIs reports whether the JSON string at s is want, without
// allocating for a string without escapes.
func stringIs(data []byte, s span, want string) bool {
	raw := data[s.start:s.end]
	if bytes.IndexByte(raw, '\\') < 0 {
		return len(raw) >= 2 && string(raw[1:len(raw)-1]) == want
	}
	return stringAt(data, s) == want
}

// skipValue returns the end of the JSON value at data[i].
func skipValue(data []byte, i int) int {
	if i >= len(data) {
		return i
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for ; i < len(data); i++ {
			switch data[i] {
			case '"':
				i = skipString(data, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return i
	default: // a number, true, false or null
		for i < len(data) && !isDelimiter(data[i]) {
			i++
		}
		return i
	}
}

// isDelimiter reports whether c ends a number or literal.
func isDelimiter(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

// skipString returns the end of the JSON string at data[i], or of data
// if it ends first.
func skipString(data []byte, i int) int {
	for i++; i < len(data); i++ {
		switch data[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(data)
}

// skipSpace returns the index of the first byte from i that is not
// JSON whitespace.
func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n') {
		i++
	}
	return i
}
