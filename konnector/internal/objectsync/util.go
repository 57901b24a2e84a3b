package objectsync

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"reflect"
)

// equalJSON compares two decoded JSON values; numbers may differ in Go type
// (int64 from one decoder, float64 from another).
func equalJSON(a, b any) bool {
	if reflect.DeepEqual(a, b) {
		return true
	}
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

// hashOf hashes a JSON object; encoding/json sorts map keys, so equal
// objects hash equally.
func hashOf(obj map[string]any) string {
	b, _ := json.Marshal(obj)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}
