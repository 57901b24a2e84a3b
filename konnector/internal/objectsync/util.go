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

// hashOf hashes a JSON object, as annotations on claim copies record it:
// 12 bytes of jsonSum, in hex.
func hashOf(obj map[string]any) string {
	sum := jsonSum(obj)
	return hex.EncodeToString(sum[:12])
}

// jsonSum is the SHA-256 of v's JSON: equal for values equal as JSON
// (encoding/json sorts map keys, and writes 1 for int64 and float64
// alike).
func jsonSum(v any) [sha256.Size]byte {
	b, _ := json.Marshal(v)
	return sha256.Sum256(b)
}
