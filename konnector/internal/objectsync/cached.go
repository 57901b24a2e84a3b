package objectsync

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// What the engine caches of each object: everything but the managed
// fields, which are much of an object's size and which it does not read.
// Of a provider copy it keeps that the konnector's own create entry is
// there, which says that the created fields still need to move to its
// apply manager (upgradeOwnership reads the live copy then), but not the
// fields it lists: they take as much memory as the rest of the copy.
// Nor does it keep the copy's spec (every top-level field but apiVersion,
// kind, metadata and status), which the engine never reads: it only asks
// whether the spec is what it would write (upToDate), which a digest of
// each field answers. For the objects users bind, whose spec is often
// most of them, the cache of copies then holds their metadata and status.

// withoutManagedFields is the transform of the caches of consumer
// objects and claimed objects.
func withoutManagedFields(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

// slimCopy is the transform of the caches of provider copies: the
// konnector's create entry alone of the managed fields, and digests in
// place of the spec. It works on the unstructured map: converting the
// managed fields to their typed form would cost more than the copy's
// whole decoding.
func slimCopy(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return withoutManagedFields(obj)
	}
	digestSpec(u.Object)
	md, _ := u.Object["metadata"].(map[string]any)
	if md == nil {
		return u, nil
	}
	entries, _ := md["managedFields"].([]any)
	if slices.ContainsFunc(entries, isOwnCreateEntry) {
		md["managedFields"] = []any{ownCreateMark}
	} else {
		delete(md, "managedFields")
	}
	return u, nil
}

// ownCreateMark stands for the konnector's create entry in the cache: what
// isOwnCreateEntry reads of it, shared by every cached copy, which the
// engine reads and never changes.
var ownCreateMark = map[string]any{"manager": FieldManager, "operation": string(metav1.ManagedFieldsOperationUpdate)}

// isOwnCreateEntry reports whether a managed fields entry is the
// konnector's create (an update operation of its field manager).
func isOwnCreateEntry(entry any) bool {
	f, ok := entry.(map[string]any)
	return ok && f["manager"] == FieldManager && f["operation"] == string(metav1.ManagedFieldsOperationUpdate)
}

// createdFieldsUnmoved reports whether a cached copy still has fields the
// konnector's create owns rather than its apply manager.
func createdFieldsUnmoved(cached *unstructured.Unstructured) bool {
	md, _ := cached.Object["metadata"].(map[string]any)
	entries, _ := md["managedFields"].([]any)
	return slices.ContainsFunc(entries, isOwnCreateEntry)
}

// digestsKey is where a cached copy keeps the digest of each spec field,
// by field name. No API object has a top-level field of that name.
const digestsKey = "bindery.dev/digests"

// digestSpec replaces the top-level fields of obj but apiVersion, kind,
// metadata and status with their digests.
func digestSpec(obj map[string]any) {
	digests := map[string]any{}
	for k, v := range obj {
		switch k {
		case "apiVersion", "kind", "metadata", "status", digestsKey:
			continue
		}
		digests[k] = digestOf(v)
		delete(obj, k)
	}
	if len(digests) > 0 {
		obj[digestsKey] = digests
	}
}

// digestOf is the digest of a decoded JSON value: equal for values equal
// as JSON (encoding/json sorts map keys, and writes 1 for int64 and
// float64 alike).
func digestOf(v any) string {
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// hasField reports whether a provider copy, cached (with digests) or
// whole, has v at top-level field k.
func hasField(copyObj *unstructured.Unstructured, k string, v any) bool {
	if digests, ok := copyObj.Object[digestsKey].(map[string]any); ok {
		d, has := digests[k]
		return has && d == digestOf(v)
	}
	return equalJSON(v, copyObj.Object[k])
}
