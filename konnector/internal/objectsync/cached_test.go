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
			_, err := withOwnCreateEntry(u)
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
