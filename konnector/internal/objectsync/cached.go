package objectsync

import (
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

// withoutManagedFields is the transform of the caches of consumer
// objects and claimed objects.
func withoutManagedFields(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

// withOwnCreateEntry is the transform of the caches of provider copies.
// It works on the unstructured map: converting the managed fields to
// their typed form would cost more than the copy's whole decoding.
func withOwnCreateEntry(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return withoutManagedFields(obj)
	}
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
