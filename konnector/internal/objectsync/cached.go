package objectsync

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"

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
// whether the spec holds what it would write (upToDate), which a digest
// of the part of it the konnector owns answers (specDigests). For the
// objects users bind, whose spec is often most of them, the cache of
// copies then holds their metadata and status. Of the labels and
// annotations, only the origin annotation stays: a digest of the part of
// them the konnector owns (metadataDigest) says whether a label or
// annotation it wrote is gone from what it would write. Both caches then
// hold what is left as JSON (cachedobject.go).

// withoutManagedFields is the transform of the caches of claimed objects,
// and the first step of that of consumer objects.
func withoutManagedFields(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

// noManagedFields says which managers' entries of the managed fields the
// engine's consumer client decodes: none
// (dynamicclient.OnlyManagedFieldsOf). The engine drops them from the
// consumer cache and from its writes' answers before they reach it, so
// they are not decoded only to be dropped. The copies' managed fields are
// read (the konnector's own entries, usually two of three) and decoded
// whole.
func noManagedFields(string) bool { return false }

// slimCopy is the first step of the transform of the caches of provider
// copies, and slims the copies the engine writes: the
// konnector's create entry alone of the managed fields, digests in
// place of the spec, and of the labels and annotations only the origin.
// Like any informer transform, it leaves an object it
// already slimmed as it is. It works on the unstructured map: converting the
// managed fields to their typed form would cost more than the copy's
// whole decoding.
func slimCopy(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return withoutManagedFields(obj)
	}
	digestCopy(u.Object)
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
	keepOnlyOrigin(md)
	return u, nil
}

// originAnnotations are the annotations of a copy the engine reads from
// its cache: where the copy comes from (originOf).
var originAnnotations = []string{OriginAnnotation, legacyOriginNamespaceAnnotation, legacyOriginNameAnnotation, legacyOriginUIDAnnotation}

// keepOnlyOrigin drops from a copy's metadata md the labels, the
// annotations but the origin, and the owner references: the engine
// reads none of them from its cache, and the digest of the labels and
// annotations it wrote (metadataDigest) says whether they are as it
// would write them. A provider's controllers may add many (Crossplane's
// composite labels and external names, kubectl's last applied
// configuration).
func keepOnlyOrigin(md map[string]any) {
	delete(md, "labels")
	delete(md, "ownerReferences")
	annotations, _ := md["annotations"].(map[string]any)
	for k := range annotations {
		if !slices.Contains(originAnnotations, k) {
			delete(annotations, k)
		}
	}
	if len(annotations) == 0 {
		delete(md, "annotations")
	}
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

// digestsKey is where a cached copy keeps its digests: of each spec
// field, by the field's name, and of its labels and annotations, as
// "metadata" (which no spec field is named). No API object has a
// top-level field of digestsKey's name.
const digestsKey = "bindery.dev/digests"

// digestCopy replaces the top-level fields of obj but apiVersion, kind,
// metadata and status with their digests (specDigests), and adds the
// digest of its labels and annotations (metadataDigest). It reads the
// managed fields, so it runs before they are dropped, and once: a copy
// that has its digests has them (client-go may transform an object twice,
// when a watch list replaces the cache).
func digestCopy(obj map[string]any) {
	if _, digested := obj[digestsKey]; digested {
		return
	}
	owned := ownedFields(obj)
	digests := specDigests(obj, owned)
	for k := range digests {
		delete(obj, k)
	}
	md, _ := obj["metadata"].(map[string]any)
	digests["metadata"] = metadataDigest(md, owned)
	obj[digestsKey] = digests
}

// specDigests returns, for each top-level field of a provider copy but
// apiVersion, kind, metadata and status, the digest of what the konnector
// wrote of it: only the fields its field manager owns, at any depth of
// nested objects and keyed lists (ownedPart), so that fields the provider
// adds beside them (Crossplane's spec.compositionRef and
// spec.resourceRefs, a default a provider controller fills in, an item it
// adds to a list) do not make the copy differ from what the
// konnector would write; a field the provider changed, removed or took
// over does. Without managed fields of the konnector's (owned nil), the
// whole field.
func specDigests(obj, owned map[string]any) map[string]any {
	digests := map[string]any{}
	for k, v := range obj {
		switch k {
		case "apiVersion", "kind", "metadata", "status", digestsKey:
			continue
		}
		if owned != nil {
			v = ownedPart(v, owned["f:"+k])
		}
		digests[k] = digestOf(v)
	}
	return digests
}

// metadataDigest returns the digest (labelsAndAnnotations) of the labels
// and annotations, in a copy's metadata md, that the konnector's field
// manager owns (owned: ownedFields), so that those a provider adds need
// no write while one the consumer removed, and so the konnector no longer
// writes, does. Without managed fields of the konnector's, of them all.
func metadataDigest(md, owned map[string]any) string {
	labels, annotations := md["labels"], md["annotations"]
	if owned != nil {
		ownedMetadata, _ := owned["f:metadata"].(map[string]any)
		labels = ownedPart(labels, ownedMetadata["f:labels"])
		annotations = ownedPart(annotations, ownedMetadata["f:annotations"])
	}
	return labelsAndAnnotations(labels, annotations)
}

// labelsAndAnnotations is the digest of a pair of label and annotation
// maps, decoded or not; an empty map counts as none.
func labelsAndAnnotations(labels, annotations any) string {
	orNil := func(v any) any {
		m, isDecoded := v.(map[string]any)
		s, isString := v.(map[string]string)
		if isDecoded && len(m) == 0 || isString && len(s) == 0 {
			return nil
		}
		return v
	}
	return digestOf([]any{orNil(labels), orNil(annotations)})
}

// ownedPart returns what of v a managed fields tree (fieldsV1) owns: of
// an object, the owned fields, each as far as it is owned; of a list, the
// owned items (ownedItems); anything else, or an object or list owned
// whole, entirely. An unowned field (tree nil) has nothing owned.
func ownedPart(v any, tree any) any {
	t, ok := tree.(map[string]any)
	if !ok {
		return nil
	}
	switch value := v.(type) {
	case map[string]any:
		return ownedMembers(value, t)
	case []any:
		return ownedItems(value, t)
	}
	return v
}

// ownedMembers returns the fields of an object a managed fields tree
// names ("f:"), each as far as it is owned, or the whole object when the
// tree names none.
func ownedMembers(m map[string]any, t map[string]any) any {
	out := map[string]any{}
	whole := true
	for key, sub := range t {
		name, isField := strings.CutPrefix(key, "f:")
		if !isField {
			continue
		}
		whole = false
		if fv, has := m[name]; has {
			out[name] = ownedPart(fv, sub)
		}
	}
	if whole {
		return m
	}
	return out
}

// ownedItems returns, in the list's order, the items of a list a managed
// fields tree names, each as far as it is owned: of an associative list
// (x-kubernetes-list-type map) the items whose keys it names ("k:"), of a
// set (list-type set) the values it names ("v:"). So items a provider
// adds to a list the konnector wrote are not the konnector's. A list the
// tree names no item of (an atomic one) is owned whole.
func ownedItems(list []any, t map[string]any) any {
	type keyed struct {
		key map[string]any
		sub any
	}
	var keys []keyed
	var values []any
	for k, sub := range t {
		var decoded any
		switch {
		case strings.HasPrefix(k, "k:") && json.Unmarshal([]byte(k[2:]), &decoded) == nil:
			if key, ok := decoded.(map[string]any); ok {
				keys = append(keys, keyed{key: key, sub: sub})
			}
		case strings.HasPrefix(k, "v:") && json.Unmarshal([]byte(k[2:]), &decoded) == nil:
			values = append(values, decoded)
		}
	}
	if len(keys) == 0 && len(values) == 0 {
		return list
	}
	out := []any{}
	for _, item := range list {
		if slices.ContainsFunc(values, func(v any) bool { return equalJSON(v, item) }) {
			out = append(out, item)
			continue
		}
		m, _ := item.(map[string]any)
		for _, k := range keys {
			if hasKey(m, k.key) {
				out = append(out, ownedPart(item, k.sub))
				break
			}
		}
	}
	return out
}

// hasKey reports whether an item of an associative list has the key
// fields and values of key.
func hasKey(item, key map[string]any) bool {
	for f, want := range key {
		got, ok := item[f]
		if !ok || !equalJSON(got, want) {
			return false
		}
	}
	return item != nil
}

// ownedFields returns the managed fields tree (fieldsV1) of the
// konnector's field manager on obj, its create's and its applies' merged,
// or nil when obj has none of them.
func ownedFields(obj map[string]any) map[string]any {
	md, _ := obj["metadata"].(map[string]any)
	entries, _ := md["managedFields"].([]any)
	var owned map[string]any
	for _, e := range entries {
		entry, _ := e.(map[string]any)
		if entry["manager"] != FieldManager || entry["subresource"] != nil && entry["subresource"] != "" {
			continue
		}
		fields, _ := entry["fieldsV1"].(map[string]any)
		if fields == nil {
			fields = map[string]any{}
		}
		if owned == nil {
			owned = fields // usually the only entry: read as it is
			continue
		}
		owned = mergeTrees(owned, fields)
	}
	return owned
}

// mergeTrees returns the union of two managed fields trees, changing
// neither.
func mergeTrees(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		av, _ := out[k].(map[string]any)
		bv, _ := v.(map[string]any)
		out[k] = mergeTrees(av, bv)
	}
	return out
}

// digestOf is the digest of a decoded JSON value, as cached copies keep
// it: 16 bytes of jsonSum, in base64.
func digestOf(v any) string {
	sum := jsonSum(v)
	return base64.RawStdEncoding.EncodeToString(sum[:16])
}

// hasField reports whether a provider copy, cached with digests or whole,
// has v, what the konnector would write, at its top-level field k.
func hasField(copyObj *unstructured.Unstructured, k string, v any) bool {
	digests, cached := copyObj.Object[digestsKey].(map[string]any)
	if !cached {
		digests = specDigests(copyObj.Object, ownedFields(copyObj.Object))
	}
	d, ok := digests[k]
	return ok && d == digestOf(v)
}

// hasMetadata reports whether the labels and annotations of a provider
// copy, cached with digests or whole, that the konnector wrote are
// exactly labels and annotations, what it would write.
func hasMetadata(copyObj *unstructured.Unstructured, labels, annotations map[string]string) bool {
	digests, cached := copyObj.Object[digestsKey].(map[string]any)
	d, _ := digests["metadata"].(string)
	if !cached {
		md, _ := copyObj.Object["metadata"].(map[string]any)
		d = metadataDigest(md, ownedFields(copyObj.Object))
	}
	return d == labelsAndAnnotations(labels, annotations)
}
