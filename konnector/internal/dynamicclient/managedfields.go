package dynamicclient

import "github.com/bindery-dev/bindery/konnector/internal/jsonscan"

// An object's managed fields are often most of its JSON: an entry for
// every field manager that wrote it, each with the tree of the fields it
// owns (fieldsV1), which decodes into a map for every field. An informer
// that drops them, or keeps the entries of one manager, still decodes
// them all. A client made by OnlyManagedFieldsOf skips the entries of
// other managers in the JSON of each watch event and response before
// decoding it, so that they are never allocated.

// managedFieldsOf returns obj, the JSON of an object, without the
// entries of its metadata.managedFields whose manager keep does not
// accept (keep sees "" for an entry whose manager is missing or not a
// string). Decoded, it is what obj decodes to, less those entries. Where
// obj is not laid out as an object with its metadata (not an object, no
// managed fields, a field of another type), the result is obj itself, so
// it is for decoding at once, as both callers do, not for keeping. obj
// is to be valid JSON, as a decoder hands it to an Unmarshaler: of
// anything else, the result is some slice, and no panic.
func managedFieldsOf(obj []byte, keep func(manager string) bool) []byte {
	md, ok := jsonscan.Member(obj, 0, "metadata")
	if !ok {
		return obj
	}
	entries, ok := jsonscan.Member(obj, md.Start, "managedFields")
	if !ok || obj[entries.Start] != '[' {
		return obj
	}
	out := make([]byte, 0, len(obj))
	out = append(out, obj[:entries.Start]...)
	out = append(out, '[')
	kept := 0
	for e := range jsonscan.Elements(obj, entries.Start) {
		manager := "" // as the entry decodes, for one with no manager or of another type
		if m, ok := jsonscan.Member(obj, e.Start, "manager"); ok {
			manager = jsonscan.String(obj, m)
		}
		if keep(manager) {
			if kept > 0 {
				out = append(out, ',')
			}
			out = append(out, obj[e.Start:e.End]...)
			kept++
		}
	}
	out = append(out, ']')
	return append(out, obj[entries.End:]...)
}
