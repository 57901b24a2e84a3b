package objectsync

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"
)

// fullObject is a consumer object with every metadata field the engine
// or client-go reads, and numbers of both kinds.
func fullObject() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "db.example.com/v1", "kind": "Database",
		"metadata": map[string]any{
			"name": "a", "namespace": "shop", "generateName": "a-", "uid": "uid-1",
			"resourceVersion": "42", "generation": int64(3), "selfLink": "/x",
			"creationTimestamp":          "2026-11-30T10:00:00Z",
			"deletionTimestamp":          "2026-11-30T11:00:00Z",
			"deletionGracePeriodSeconds": int64(30),
			"labels":                     map[string]any{"team": "shop"},
			"annotations":                map[string]any{OrphanAnnotation: "true"},
			"finalizers":                 []any{Finalizer},
			"ownerReferences":            []any{map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": "uid-0"}},
		},
		"spec":   map[string]any{"size": int64(3), "ratio": 0.5, "tags": []any{"a", "b"}, "db": map[string]any{"version": "16"}},
		"status": map[string]any{"phase": "Ready"},
	}}
}

// TestCachedObjectIsTheObject: a cached object decodes to the object it
// holds, and answers every metav1.Object getter as the object does.
func TestCachedObjectIsTheObject(t *testing.T) {
	u := fullObject()
	o, err := newCachedObject(u)
	require.NoError(t, err)

	assert.Equal(t, fullObject(), u, "holding an object leaves it as it is")
	assert.Equal(t, u, o.object(), "decodes to the object, ints as int64")
	var raw map[string]any
	require.NoError(t, json.Unmarshal(o.raw, &raw))
	assert.NotContains(t, raw, "apiVersion", "kept beside the JSON, not in it")
	assert.NotContains(t, raw, "kind", "kept beside the JSON, not in it")
	for _, kept := range keptFields {
		assert.NotContains(t, raw["metadata"], kept, "kept beside the JSON, not in it")
	}
	assert.NotSame(t, o.object(), o.object(), "each read decodes a fresh object, which its reader may change")
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"namespace", o.GetNamespace(), u.GetNamespace()},
		{"name", o.GetName(), u.GetName()},
		{"generateName", o.GetGenerateName(), u.GetGenerateName()},
		{"uid", o.GetUID(), u.GetUID()},
		{"resourceVersion", o.GetResourceVersion(), u.GetResourceVersion()},
		{"generation", o.GetGeneration(), u.GetGeneration()},
		{"selfLink", o.GetSelfLink(), u.GetSelfLink()},
		{"creationTimestamp", o.GetCreationTimestamp(), u.GetCreationTimestamp()},
		{"deletionTimestamp", o.GetDeletionTimestamp(), u.GetDeletionTimestamp()},
		{"deletionGracePeriodSeconds", o.GetDeletionGracePeriodSeconds(), u.GetDeletionGracePeriodSeconds()},
		{"labels", o.GetLabels(), u.GetLabels()},
		{"annotations", o.GetAnnotations(), u.GetAnnotations()},
		{"finalizers", o.GetFinalizers(), u.GetFinalizers()},
		{"ownerReferences", o.GetOwnerReferences(), u.GetOwnerReferences()},
		{"managedFields", o.GetManagedFields(), u.GetManagedFields()},
		{"kind", o.GetObjectKind().GroupVersionKind(), u.GroupVersionKind()},
	} {
		assert.Equal(t, tc.want, tc.got, tc.name)
	}
	assert.Equal(t, "shop/a", keyOf(o))
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(o)
	require.NoError(t, err)
	assert.Equal(t, "shop/a", key, "client-go's stores key it as the object")
}

// TestCachedObjectShapes: objects without a namespace, a kind or any
// metadata decode to what they were, without the fields they lacked, and
// their labels and annotations read as the objects' own.
func TestCachedObjectShapes(t *testing.T) {
	for _, tc := range []struct {
		name string
		obj  map[string]any
	}{
		{"cluster-scoped", map[string]any{"apiVersion": "db.example.com/v1", "kind": "Region",
			"metadata": map[string]any{"name": "eu", "resourceVersion": "7"}, "spec": map[string]any{"zones": int64(3)}}},
		{"without apiVersion and kind", map[string]any{"metadata": map[string]any{"name": "a", "namespace": "shop"}}},
		{"without metadata", map[string]any{"apiVersion": "v1", "kind": "List", "items": []any{}}},
		{"with empty metadata", map[string]any{"metadata": map[string]any{}}},
		{"with empty labels and null annotations", map[string]any{"metadata": map[string]any{
			"name": "a", "labels": map[string]any{}, "annotations": nil}}},
		{"with labels and annotations not all strings", map[string]any{"metadata": map[string]any{
			"name": "a", "labels": map[string]any{"team": "shop", "size": int64(3)}, "annotations": "note"}}},
		{"with metadata of another type", map[string]any{"metadata": "a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := &unstructured.Unstructured{Object: tc.obj}
			o, err := newCachedObject(u.DeepCopy())
			require.NoError(t, err)
			assert.Equal(t, u, o.object())
			assert.Equal(t, u.GroupVersionKind(), o.GetObjectKind().GroupVersionKind())
			assert.Equal(t, u.GetLabels(), o.GetLabels(), "labels, as the object's getter reads them")
			assert.Equal(t, u.GetAnnotations(), o.GetAnnotations(), "annotations, as the object's getter reads them")
		})
	}
}

// TestCachedObjectSetters: a setter changes the object the cached object
// holds, and the fields kept beside it; a copy taken before keeps what it
// had.
func TestCachedObjectSetters(t *testing.T) {
	later := metav1.NewTime(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	for _, tc := range []struct {
		name string
		set  func(metav1.Object)
	}{
		{"namespace", func(o metav1.Object) { o.SetNamespace("other") }},
		{"name", func(o metav1.Object) { o.SetName("b") }},
		{"generateName", func(o metav1.Object) { o.SetGenerateName("b-") }},
		{"uid", func(o metav1.Object) { o.SetUID("uid-2") }},
		{"resourceVersion", func(o metav1.Object) { o.SetResourceVersion("43") }},
		{"generation", func(o metav1.Object) { o.SetGeneration(4) }},
		{"selfLink", func(o metav1.Object) { o.SetSelfLink("/y") }},
		{"creationTimestamp", func(o metav1.Object) { o.SetCreationTimestamp(later) }},
		{"deletionTimestamp", func(o metav1.Object) { o.SetDeletionTimestamp(nil) }},
		{"deletionGracePeriodSeconds", func(o metav1.Object) { o.SetDeletionGracePeriodSeconds(nil) }},
		{"labels", func(o metav1.Object) { o.SetLabels(map[string]string{"team": "ops"}) }},
		{"annotations", func(o metav1.Object) { o.SetAnnotations(nil) }},
		{"finalizers", func(o metav1.Object) { o.SetFinalizers([]string{"other"}) }},
		{"ownerReferences", func(o metav1.Object) { o.SetOwnerReferences(nil) }},
		{"managedFields", func(o metav1.Object) {
			o.SetManagedFields([]metav1.ManagedFieldsEntry{{Manager: "m", Operation: metav1.ManagedFieldsOperationApply}})
		}},
		{"kind", func(o metav1.Object) {
			o.(interface {
				GetObjectKind() schema.ObjectKind
			}).GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{Group: "db.example.com", Version: "v2", Kind: "Database"})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := fullObject()
			tc.set(want)
			o, err := newCachedObject(fullObject())
			require.NoError(t, err)
			before := o.DeepCopyObject().(*cachedObject)
			tc.set(o)

			assert.Equal(t, want, o.object())
			assert.Equal(t, want.GetNamespace(), o.GetNamespace())
			assert.Equal(t, want.GetName(), o.GetName())
			assert.Equal(t, want.GetResourceVersion(), o.GetResourceVersion())
			assert.Equal(t, want.GetDeletionTimestamp(), o.GetDeletionTimestamp())
			assert.Equal(t, fullObject(), before.object(), "the copy taken before")
		})
	}
}

// TestCacheTransforms: the caches' transforms hold objects as cached
// objects, without managed fields, copies with their digests, and leave
// what they transformed already as it is.
func TestCacheTransforms(t *testing.T) {
	withManagedFields := func() *unstructured.Unstructured {
		u := fullObject()
		u.Object["metadata"].(map[string]any)["managedFields"] = []any{
			map[string]any{"manager": FieldManager, "operation": "Update", "fieldsV1": map[string]any{"f:spec": map[string]any{"f:size": map[string]any{}}}},
		}
		return u
	}
	for _, tc := range []struct {
		name      string
		transform func(any) (any, error)
		want      func() *unstructured.Unstructured
	}{
		{"consumer objects", cacheConsumerObject, func() *unstructured.Unstructured {
			u := withManagedFields()
			_, _ = withoutManagedFields(u)
			return u
		}},
		{"provider copies", cacheCopy, func() *unstructured.Unstructured {
			u := withManagedFields()
			_, _ = slimCopy(u)
			return u
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.transform(withManagedFields())
			require.NoError(t, err)
			o, ok := got.(*cachedObject)
			require.True(t, ok, "a cached object, not %T", got)
			assert.Equal(t, tc.want(), o.object())

			again, err := tc.transform(o)
			require.NoError(t, err)
			assert.Same(t, o, again, "transformed twice")
		})
	}
}

// TestDecoded: what informers hand to handlers, decoded.
func TestDecoded(t *testing.T) {
	u := fullObject()
	o, err := newCachedObject(u)
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		obj  any
		want *unstructured.Unstructured
	}{
		{"cached object", o, u},
		{"object", u, u},
		{"tombstone of a cached object", cache.DeletedFinalStateUnknown{Key: "shop/a", Obj: o}, u},
		{"tombstone of an object", cache.DeletedFinalStateUnknown{Key: "shop/a", Obj: u}, u},
		{"something else", "shop/a", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := decoded(tc.obj)
			assert.Equal(t, tc.want != nil, ok)
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestMutationCacheOverCachedObjects: the engine's own writes stand in
// for cached objects until the cache has a newer version.
func TestMutationCacheOverCachedObjects(t *testing.T) {
	indexer := cache.NewIndexer(cache.DeletionHandlingMetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	cached, err := newCachedObject(fullObject())
	require.NoError(t, err)
	require.NoError(t, indexer.Add(cached))
	mc := cache.NewIntegerResourceVersionMutationCache(logr.Discard(), indexer, indexer, time.Minute, false)

	written := fullObject()
	written.SetResourceVersion("43")
	mc.Mutation(written)
	got, _, err := mc.GetByKey("shop/a")
	require.NoError(t, err)
	assert.Same(t, written, got, "the write is newer")

	newer := fullObject()
	newer.SetResourceVersion("44")
	cachedNewer, err := newCachedObject(newer)
	require.NoError(t, err)
	require.NoError(t, indexer.Update(cachedNewer))
	got, _, err = mc.GetByKey("shop/a")
	require.NoError(t, err)
	assert.Same(t, cachedNewer, got, "the cache is newer")

	inNamespace, err := indexer.ByIndex(cache.NamespaceIndex, "shop")
	require.NoError(t, err)
	assert.Len(t, inNamespace, 1)
}
