package objectsync

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestCachedCopiesKeepOnlyTheKonnectorsCreate(t *testing.T) {
	create := map[string]any{"manager": FieldManager, "operation": "Update", "fieldsV1": map[string]any{"f:spec": map[string]any{}}}
	apply := map[string]any{"manager": FieldManager, "operation": "Apply"}
	operator := map[string]any{"manager": "operator", "operation": "Update", "subresource": "status"}
	for _, tc := range []struct {
		name      string
		entries   []any
		wantKept  []any
		wantMoved bool
	}{
		{name: "created, not yet applied", entries: []any{operator, create}, wantKept: []any{ownCreateMark}},
		{name: "applied", entries: []any{apply, operator}, wantMoved: true},
		{name: "no managed fields", wantMoved: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "a"}}}
			if tc.entries != nil {
				u.Object["metadata"].(map[string]any)["managedFields"] = append([]any(nil), tc.entries...)
			}
			_, err := slimCopy(u)
			assert.NoError(t, err)
			got, _, _ := unstructured.NestedSlice(u.Object, "metadata", "managedFields")
			assert.Equal(t, tc.wantKept, got, "of the managed fields, only that the konnector's create is there")
			assert.Equal(t, !tc.wantMoved, createdFieldsUnmoved(u))

			_, err = withoutManagedFields(u)
			assert.NoError(t, err)
			assert.NotContains(t, u.Object["metadata"], "managedFields")
			assert.Equal(t, "a", u.GetName())
		})
	}
}

// TestUpToDateWithDigests: a cached copy keeps digests of its spec, and
// tells an up-to-date copy from a stale one as the whole copy does.
func TestUpToDateWithDigests(t *testing.T) {
	desired := func() *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "db.example.com/v1", "kind": "Database",
			"metadata": map[string]any{"name": "a", "annotations": map[string]any{AppliedHashAnnotation: "h1"}},
			"spec":     map[string]any{"size": int64(3), "engine": "postgres", "tags": []any{"a", "b"}},
		}}
		return u
	}
	for _, tc := range []struct {
		name   string
		change func(copyObj map[string]any)
		want   bool
	}{
		{name: "as written", change: func(map[string]any) {}, want: true},
		{name: "a number decoded as float64", change: func(c map[string]any) { c["spec"].(map[string]any)["size"] = float64(3) }, want: true},
		{name: "a status and a field the provider added", change: func(c map[string]any) {
			c["status"] = map[string]any{"phase": "Ready"}
			c["extra"] = map[string]any{"x": "y"}
		}, want: true},
		{name: "the spec changed on the provider", change: func(c map[string]any) { c["spec"].(map[string]any)["size"] = int64(4) }, want: false},
		{name: "a list reordered", change: func(c map[string]any) { c["spec"].(map[string]any)["tags"] = []any{"b", "a"} }, want: false},
		{name: "no spec", change: func(c map[string]any) { delete(c, "spec") }, want: false},
		{name: "other labels or annotations applied", change: func(c map[string]any) {
			c["metadata"].(map[string]any)["annotations"] = map[string]any{AppliedHashAnnotation: "h0"}
		}, want: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			whole := desired().DeepCopy()
			tc.change(whole.Object)
			assert.Equal(t, tc.want, upToDate(desired(), whole), "the whole copy")
			cached := whole.DeepCopy()
			_, err := slimCopy(cached)
			assert.NoError(t, err)
			assert.NotContains(t, cached.Object, "spec", "the cache keeps a digest, not the spec")
			assert.Equal(t, whole.Object["status"], cached.Object["status"], "the cache keeps the status")
			assert.Equal(t, tc.want, upToDate(desired(), cached), "the cached copy")
		})
	}
}
