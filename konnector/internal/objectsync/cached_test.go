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
// tells an up-to-date copy from a stale one as the whole copy does: the
// provider may add spec fields of its own; a field the konnector writes
// must be as it wrote it, and the konnector's.
func TestUpToDateWithDigests(t *testing.T) {
	desired := func() *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "db.example.com/v1", "kind": "Database",
			"metadata": map[string]any{"name": "a", "annotations": map[string]any{AppliedHashAnnotation: "h1"}},
			"spec": map[string]any{"size": int64(3), "engine": "postgres", "tags": []any{"a", "b"},
				"db": map[string]any{"version": "16"}},
		}}
	}
	// entry is a managed fields entry owning the given spec fields, and
	// spec.db.version when "db" is one of them.
	entry := func(manager, operation string, specFields ...string) map[string]any {
		fields := map[string]any{".": map[string]any{}}
		for _, f := range specFields {
			fields["f:"+f] = map[string]any{}
			if f == "db" {
				fields["f:db"] = map[string]any{".": map[string]any{}, "f:version": map[string]any{}}
			}
		}
		return map[string]any{"manager": manager, "operation": operation, "fieldsV1": map[string]any{"f:spec": fields}}
	}
	written := func() map[string]any {
		c := desired().Object
		c["metadata"].(map[string]any)["managedFields"] = []any{entry(FieldManager, "Apply", "size", "engine", "tags", "db")}
		return c
	}
	spec := func(c map[string]any) map[string]any { return c["spec"].(map[string]any) }
	for _, tc := range []struct {
		name   string
		change func(copyObj map[string]any)
		want   bool
	}{
		{name: "as written", change: func(map[string]any) {}, want: true},
		{name: "a number decoded as float64", change: func(c map[string]any) { spec(c)["size"] = float64(3) }, want: true},
		{name: "a status and a top-level field the provider added", change: func(c map[string]any) {
			c["status"] = map[string]any{"phase": "Ready"}
			c["extra"] = map[string]any{"x": "y"}
		}, want: true},
		{name: "a spec field the provider added", change: func(c map[string]any) {
			spec(c)["compositionRef"] = map[string]any{"name": "aws"}
			c["metadata"].(map[string]any)["managedFields"] = []any{
				entry(FieldManager, "Apply", "size", "engine", "tags", "db"), entry("crossplane", "Update", "compositionRef")}
		}, want: true},
		{name: "a field the provider added within an object of the konnector's", change: func(c map[string]any) {
			spec(c)["db"].(map[string]any)["port"] = int64(5432)
		}, want: true},
		{name: "a field within an object of the konnector's changed on the provider", change: func(c map[string]any) {
			spec(c)["db"].(map[string]any)["version"] = "15"
		}, want: false},
		{name: "created, not applied yet", change: func(c map[string]any) {
			c["metadata"].(map[string]any)["managedFields"] = []any{entry(FieldManager, "Update", "size", "engine", "tags", "db")}
		}, want: true},
		{name: "created, then applied in part", change: func(c map[string]any) {
			c["metadata"].(map[string]any)["managedFields"] = []any{
				entry(FieldManager, "Update", "size", "engine"), entry(FieldManager, "Apply", "tags", "db")}
		}, want: true},
		{name: "a field of the konnector's made an object on the provider", change: func(c map[string]any) {
			spec(c)["engine"] = map[string]any{"name": "postgres"}
		}, want: false},
		{name: "a spec field of the konnector's gone on the provider", change: func(c map[string]any) { delete(spec(c), "engine") }, want: false},
		{name: "the spec changed on the provider", change: func(c map[string]any) { spec(c)["size"] = int64(4) }, want: false},
		{name: "a field the provider took over", change: func(c map[string]any) {
			c["metadata"].(map[string]any)["managedFields"] = []any{
				entry(FieldManager, "Apply", "engine", "tags", "db"), entry("someone", "Update", "size")}
		}, want: false},
		{name: "a list reordered", change: func(c map[string]any) { spec(c)["tags"] = []any{"b", "a"} }, want: false},
		{name: "no spec", change: func(c map[string]any) { delete(c, "spec") }, want: false},
		{name: "other labels or annotations applied", change: func(c map[string]any) {
			c["metadata"].(map[string]any)["annotations"] = map[string]any{AppliedHashAnnotation: "h0"}
		}, want: false},
		{name: "without the konnector's managed fields, the whole spec counts", change: func(c map[string]any) {
			delete(c["metadata"].(map[string]any), "managedFields")
			spec(c)["compositionRef"] = map[string]any{"name": "aws"}
		}, want: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			whole := &unstructured.Unstructured{Object: written()}
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
