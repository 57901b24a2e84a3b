package objectsync

import (
	"encoding/json"
	"maps"
	"unique"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	kjson "sigs.k8s.io/json"

	"github.com/bindery-dev/bindery/konnector/internal/jsonscan"
)

// The caches of consumer objects and of provider copies hold each object
// as its JSON (cachedObject) rather than as decoded maps: a small object
// of two dozen fields took 2.3 KiB of heap decoded, most of it the maps'
// tables and the boxed strings, against its 0.4 KiB of JSON. A read
// decodes a fresh object, which its reader may change; what client-go's
// stores and the engine's event handlers read on every event (namespace,
// name, resourceVersion, deletionTimestamp) is kept beside the JSON, and
// so are the apiVersion and kind. The JSON then leaves out all of those
// but the (rare) deletionTimestamp: they were a third of a small
// object's JSON, and the apiVersion, kind and namespace are the same for
// many objects, which share them.

// cachedObject is an object as the engine's caches hold it. It is a
// metav1.Object for client-go's stores (keys, indexes, the mutation
// cache's resourceVersions); getters other than the kept fields decode the
// JSON, and setters encode it again.
type cachedObject struct {
	// typeMeta and namespace are shared by the cached objects of a
	// resource, and of a namespace.
	typeMeta          unique.Handle[metav1.TypeMeta]
	namespace         unique.Handle[string]
	name              string
	resourceVersion   string
	deletionTimestamp *metav1.Time
	// raw is the object's JSON without the fields kept above but the
	// deletionTimestamp (keptFields).
	raw []byte
}

var (
	_ metav1.Object  = &cachedObject{}
	_ runtime.Object = &cachedObject{}
)

// newCachedObject holds u as the caches do. It leaves u as it is.
func newCachedObject(u *unstructured.Unstructured) (*cachedObject, error) {
	raw, err := json.Marshal(withoutKeptFields(u.Object))
	if err != nil {
		return nil, err
	}
	return &cachedObject{
		typeMeta:          unique.Make(metav1.TypeMeta{APIVersion: u.GetAPIVersion(), Kind: u.GetKind()}),
		namespace:         unique.Make(u.GetNamespace()),
		name:              u.GetName(),
		resourceVersion:   u.GetResourceVersion(),
		deletionTimestamp: u.GetDeletionTimestamp(),
		raw:               raw,
	}, nil
}

// keptFields are the fields of an object's metadata a cachedObject keeps
// beside its JSON rather than in it.
var keptFields = []string{"name", "namespace", "resourceVersion"}

// withoutKeptFields returns obj without its apiVersion, kind and
// keptFields, changing neither obj nor its metadata.
func withoutKeptFields(obj map[string]any) map[string]any {
	out := maps.Clone(obj)
	delete(out, "apiVersion")
	delete(out, "kind")
	if md, ok := out["metadata"].(map[string]any); ok {
		md = maps.Clone(md)
		for _, f := range keptFields {
			delete(md, f)
		}
		out["metadata"] = md
	}
	return out
}

// object decodes the cached object, as the API server sent it (managed
// fields aside, and for copies, with their digests: slimCopy).
func (o *cachedObject) object() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	// raw was encoded from a decoded object: it decodes.
	_ = kjson.UnmarshalCaseSensitivePreserveInts(o.raw, &u.Object)
	// What the object did not have, it does not get.
	tm := o.typeMeta.Value()
	if tm.APIVersion != "" {
		u.SetAPIVersion(tm.APIVersion)
	}
	if tm.Kind != "" {
		u.SetKind(tm.Kind)
	}
	u.SetNamespace(o.namespace.Value())
	u.SetName(o.name)
	u.SetResourceVersion(o.resourceVersion)
	return u
}

// edit changes the cached object with f, and keeps the result.
func (o *cachedObject) edit(f func(u *unstructured.Unstructured)) {
	u := o.object()
	f(u)
	if edited, err := newCachedObject(u); err == nil {
		*o = *edited
	}
}

// cacheConsumerObject is the transform of the cache of consumer objects.
func cacheConsumerObject(obj any) (any, error) {
	return toCached(obj, withoutManagedFields)
}

// cacheCopy is the transform of the caches of provider copies.
func cacheCopy(obj any) (any, error) {
	return toCached(obj, slimCopy)
}

// toCached holds an object as the caches do, after slim has made it
// smaller. It leaves a cached object as it is: client-go may transform an
// object twice.
func toCached(obj any, slim func(any) (any, error)) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil
	}
	if _, err := slim(u); err != nil {
		return nil, err
	}
	return newCachedObject(u)
}

// decoded returns what an informer hands out (a cached object, an
// object, or the tombstone of either) as an object, and whether it is one.
func decoded(obj any) (*unstructured.Unstructured, bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	switch o := obj.(type) {
	case *cachedObject:
		return o.object(), true
	case *unstructured.Unstructured:
		return o, true
	}
	return nil, false
}

func (o *cachedObject) GetObjectKind() schema.ObjectKind { return cachedKind{o} }

// cachedKind is the kind of a cached object, read from its JSON.
type cachedKind struct{ o *cachedObject }

func (k cachedKind) GroupVersionKind() schema.GroupVersionKind {
	tm := k.o.typeMeta.Value()
	return schema.FromAPIVersionAndKind(tm.APIVersion, tm.Kind)
}

func (k cachedKind) SetGroupVersionKind(gvk schema.GroupVersionKind) {
	k.o.edit(func(u *unstructured.Unstructured) { u.SetGroupVersionKind(gvk) })
}

// DeepCopyObject copies o; the JSON is never changed in place (edit
// replaces it), so the copies share it.
func (o *cachedObject) DeepCopyObject() runtime.Object {
	c := *o
	return &c
}

func (o *cachedObject) GetNamespace() string               { return o.namespace.Value() }
func (o *cachedObject) GetName() string                    { return o.name }
func (o *cachedObject) GetResourceVersion() string         { return o.resourceVersion }
func (o *cachedObject) GetDeletionTimestamp() *metav1.Time { return o.deletionTimestamp }

func (o *cachedObject) GetGenerateName() string { return o.object().GetGenerateName() }
func (o *cachedObject) GetUID() types.UID       { return o.object().GetUID() }
func (o *cachedObject) GetGeneration() int64    { return o.object().GetGeneration() }
func (o *cachedObject) GetSelfLink() string     { return o.object().GetSelfLink() }
func (o *cachedObject) GetFinalizers() []string { return o.object().GetFinalizers() }
func (o *cachedObject) GetLabels() map[string]string {
	return stringMap(o.metadataMember("labels"))
}

// GetAnnotations decodes the annotations alone: the engine reads a copy's
// origin from them on every event of the copy (copyChanged), and need not
// decode the rest of it for that.
func (o *cachedObject) GetAnnotations() map[string]string {
	return stringMap(o.metadataMember("annotations"))
}

func (o *cachedObject) GetCreationTimestamp() metav1.Time {
	return o.object().GetCreationTimestamp()
}
func (o *cachedObject) GetDeletionGracePeriodSeconds() *int64 {
	return o.object().GetDeletionGracePeriodSeconds()
}
func (o *cachedObject) GetOwnerReferences() []metav1.OwnerReference {
	return o.object().GetOwnerReferences()
}
func (o *cachedObject) GetManagedFields() []metav1.ManagedFieldsEntry {
	return o.object().GetManagedFields()
}

func (o *cachedObject) SetNamespace(v string) {
	o.edit(func(u *unstructured.Unstructured) { u.SetNamespace(v) })
}
func (o *cachedObject) SetName(v string) { o.edit(func(u *unstructured.Unstructured) { u.SetName(v) }) }
func (o *cachedObject) SetGenerateName(v string) {
	o.edit(func(u *unstructured.Unstructured) { u.SetGenerateName(v) })
}
func (o *cachedObject) SetUID(v types.UID) {
	o.edit(func(u *unstructured.Unstructured) { u.SetUID(v) })
}
func (o *cachedObject) SetResourceVersion(v string) {
	o.edit(func(u *unstructured.Unstructured) { u.SetResourceVersion(v) })
}
func (o *cachedObject) SetGeneration(v int64) {
	o.edit(func(u *unstructured.Unstructured) { u.SetGeneration(v) })
}
func (o *cachedObject) SetSelfLink(v string) {
	o.edit(func(u *unstructured.Unstructured) { u.SetSelfLink(v) })
}
func (o *cachedObject) SetCreationTimestamp(v metav1.Time) {
	o.edit(func(u *unstructured.Unstructured) { u.SetCreationTimestamp(v) })
}
func (o *cachedObject) SetDeletionTimestamp(v *metav1.Time) {
	o.edit(func(u *unstructured.Unstructured) { u.SetDeletionTimestamp(v) })
}
func (o *cachedObject) SetDeletionGracePeriodSeconds(v *int64) {
	o.edit(func(u *unstructured.Unstructured) { u.SetDeletionGracePeriodSeconds(v) })
}
func (o *cachedObject) SetLabels(v map[string]string) {
	o.edit(func(u *unstructured.Unstructured) { u.SetLabels(v) })
}
func (o *cachedObject) SetAnnotations(v map[string]string) {
	o.edit(func(u *unstructured.Unstructured) { u.SetAnnotations(v) })
}
func (o *cachedObject) SetFinalizers(v []string) {
	o.edit(func(u *unstructured.Unstructured) { u.SetFinalizers(v) })
}
func (o *cachedObject) SetOwnerReferences(v []metav1.OwnerReference) {
	o.edit(func(u *unstructured.Unstructured) { u.SetOwnerReferences(v) })
}
func (o *cachedObject) SetManagedFields(v []metav1.ManagedFieldsEntry) {
	o.edit(func(u *unstructured.Unstructured) { u.SetManagedFields(v) })
}

// metadataMember is the JSON of the member name of the cached object's
// metadata, or nil if it has none; found in the object's JSON, not copied.
func (o *cachedObject) metadataMember(name string) []byte {
	md, ok := jsonscan.Member(o.raw, 0, "metadata")
	if !ok {
		return nil
	}
	s, ok := jsonscan.Member(o.raw, md.Start, name)
	if !ok {
		return nil
	}
	return o.raw[s.Start:s.End]
}

// stringMap decodes a JSON object of strings as an unstructured object's
// getters do: nil where it is missing, null, or holds a value that is not
// a string.
func stringMap(raw []byte) map[string]string {
	var m map[string]string
	if len(raw) == 0 || kjson.UnmarshalCaseSensitivePreserveInts(raw, &m) != nil {
		return nil
	}
	return m
}
