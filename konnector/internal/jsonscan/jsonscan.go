// Package jsonscan finds values in a JSON document without decoding it:
// the konnector reads a few fields of large objects (an object's managed
// fields entries, a cached object's labels and annotations) this way,
// rather than decoding all of it. Its functions take valid JSON, as a
// decoder hands it over or as an encoder wrote it; of anything else they
// return some span, and never panic.
package jsonscan

import (
	"bytes"
	"iter"

	kjson "sigs.k8s.io/json"
)

// Span is where a JSON value is in a document: [Start, End).
type Span struct{ Start, End int }

// Member returns the value of the last member named name of the object
// at data[at] (the one a decoder keeps), or false if data[at] is no
// object or has no such member.
func Member(data []byte, at int, name string) (Span, bool) {
	at = skipSpace(data, at)
	if at >= len(data) || data[at] != '{' {
		return Span{}, false
	}
	var found Span
	ok := false
	i := skipSpace(data, at+1)
	for i < len(data) && data[i] == '"' {
		key := Span{i, skipString(data, i)}
		i = skipSpace(data, key.End)
		if i >= len(data) || data[i] != ':' {
			return Span{}, false
		}
		start := skipSpace(data, i+1)
		if start >= len(data) {
			return Span{}, false
		}
		value := Span{start, skipValue(data, start)}
		if stringIs(data, key, name) {
			found, ok = value, true
		}
		i = skipSpace(data, value.End)
		if i < len(data) && data[i] == ',' {
			i = skipSpace(data, i+1)
		}
	}
	return found, ok
}

// Elements yields the values of the array at data[at], and nothing if
// data[at] is no array.
func Elements(data []byte, at int) iter.Seq[Span] {
	return func(yield func(Span) bool) {
		start := skipSpace(data, at)
		if start >= len(data) || data[start] != '[' {
			return
		}
		i := skipSpace(data, start+1)
		for i < len(data) && data[i] != ']' {
			e := Span{i, skipValue(data, i)}
			if e.End <= i || !yield(e) {
				return // not valid JSON, or the caller is done
			}
			i = skipSpace(data, e.End)
			if i < len(data) && data[i] == ',' {
				i = skipSpace(data, i+1)
			}
		}
	}
}

// String decodes the JSON string at s; anything else is "".
func String(data []byte, s Span) string {
	raw := data[s.Start:s.End]
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
func stringIs(data []byte, s Span, want string) bool {
	raw := data[s.Start:s.End]
	if bytes.IndexByte(raw, '\\') < 0 {
		return len(raw) >= 2 && string(raw[1:len(raw)-1]) == want
	}
	return String(data, s) == want
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
