package objectsync

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

func TestUserMetadata(t *testing.T) {
	in := map[string]string{
		"team":                        "shop",
		"app.kubernetes.io/name":      "orders",
		"kubernetes.io/metadata.name": "x",
		"kubectl.kubernetes.io/last-applied-configuration": "{}",
		"bindery.dev/orphan":        "true",
		"kube-bind.io/owner":        "x",
		"meta.helm.sh/release-name": "r",
		"example.com/custom":        "y",
	}
	assert.Equal(t, map[string]string{
		"team":                   "shop",
		"app.kubernetes.io/name": "orders",
		"example.com/custom":     "y",
	}, userMetadata(in))
}

func TestEqualJSON(t *testing.T) {
	tests := []struct {
		a, b any
		want bool
	}{
		{map[string]any{"n": int64(1)}, map[string]any{"n": float64(1)}, true},
		{map[string]any{"n": int64(1)}, map[string]any{"n": int64(2)}, false},
		{nil, nil, true},
		{map[string]any{}, nil, false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, equalJSON(tt.a, tt.b), "%v vs %v", tt.a, tt.b)
	}
}

// TestOrigin: a copy's origin annotation names its consumer object, and
// leads back to it; so do the origin annotations of copies that earlier
// konnectors wrote.
func TestOrigin(t *testing.T) {
	object := func(namespace, name, uid string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetNamespace(namespace)
		u.SetName(name)
		u.SetUID(types.UID(uid))
		return u
	}
	withAnnotations := func(a map[string]string) *unstructured.Unstructured {
		u := object("kube-bind-x", "db1", "copy-uid")
		u.SetAnnotations(a)
		return u
	}
	stamped := func(src *unstructured.Unstructured) *unstructured.Unstructured {
		out := object("kube-bind-x", src.GetName(), "copy-uid")
		stampCopy(out, src, nil)
		return out
	}
	for _, tc := range []struct {
		name    string
		copyObj any
		wantKey cache.ObjectName
		wantUID string
		wantOK  bool
	}{
		{name: "namespaced", copyObj: stamped(object("default", "db1", "u-1")),
			wantKey: cache.NewObjectName("default", "db1"), wantUID: "u-1", wantOK: true},
		{name: "cluster-scoped", copyObj: stamped(object("", "db1", "u-1")),
			wantKey: cache.NewObjectName("", "db1"), wantUID: "u-1", wantOK: true},
		{name: "deleted, its last state unknown", copyObj: cache.DeletedFinalStateUnknown{Obj: stamped(object("default", "db1", "u-1"))},
			wantKey: cache.NewObjectName("default", "db1"), wantUID: "u-1", wantOK: true},
		{name: "written by an earlier konnector", copyObj: withAnnotations(map[string]string{
			legacyOriginNamespaceAnnotation: "default", legacyOriginNameAnnotation: "db1", legacyOriginUIDAnnotation: "u-1"}),
			wantKey: cache.NewObjectName("default", "db1"), wantUID: "u-1", wantOK: true},
		{name: "no origin", copyObj: withAnnotations(map[string]string{"team": "shop"})},
		{name: "no name", copyObj: withAnnotations(map[string]string{OriginAnnotation: "u-1"})},
		{name: "too many parts", copyObj: withAnnotations(map[string]string{OriginAnnotation: "a/b/c/u-1"})},
		{name: "not an object", copyObj: "db1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, uid, ok := originOf(tc.copyObj)
			assert.Equal(t, tc.wantOK, ok)
			if tc.wantOK {
				assert.Equal(t, tc.wantKey, key)
				assert.Equal(t, tc.wantUID, uid)
			}
		})
	}
	assert.Equal(t, "default/db1/u-1", stamped(object("default", "db1", "u-1")).GetAnnotations()[OriginAnnotation])
	assert.Equal(t, "db1/u-1", stamped(object("", "db1", "u-1")).GetAnnotations()[OriginAnnotation])
}
