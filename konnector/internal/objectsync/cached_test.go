package objectsync

import (
	"strings"
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

// TestUpToDateWithDigests: a cached copy keeps digests of its spec and
// of its labels and annotations, and tells an up-to-date copy from a
// stale one as the whole copy does: the provider may add spec fields,
// labels and annotations of its own; what the konnector writes must be as
// it wrote it, and the konnector's, and what it wrote and would no longer
// write must be gone.
func TestUpToDateWithDigests(t *testing.T) {
	desired := func() *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "db.example.com/v1", "kind": "Database",
			"metadata": map[string]any{"name": "a",
				"labels":      map[string]any{ManagedByLabel: ManagedByValue, "team": "shop"},
				"annotations": map[string]any{OriginAnnotation: "default/a/uid-1"}},
			"spec": map[string]any{"size": int64(3), "engine": "postgres", "tags": []any{"a", "b"},
				"db":    map[string]any{"version": "16"},
				"ports": []any{map[string]any{"name": "sql", "port": int64(5432)}},
				"zones": []any{"eu-1a"}},
		}}
	}
	// fields is the fieldsV1 tree of the given metadata keys, each
	// "labels/<key>" or "annotations/<key>".
	fields := func(metadataKeys ...string) map[string]any {
		md := map[string]any{}
		for _, k := range metadataKeys {
			kind, key, _ := strings.Cut(k, "/")
			if md["f:"+kind] == nil {
				md["f:"+kind] = map[string]any{".": map[string]any{}}
			}
			md["f:"+kind].(map[string]any)["f:"+key] = map[string]any{}
		}
		return md
	}
	konnectorMetadata := []string{"labels/" + ManagedByLabel, "labels/team", "annotations/" + OriginAnnotation}
	// entry is a managed fields entry owning the given spec fields:
	// spec.db.version when "db" is one of them, and the items the
	// konnector writes of the lists ports (list-type map, keyed by name)
	// and zones (list-type set); the konnector's own the labels and
	// annotations it writes.
	entry := func(manager, operation string, specFields ...string) map[string]any {
		spec := map[string]any{".": map[string]any{}}
		for _, f := range specFields {
			switch f {
			case "db":
				spec["f:db"] = map[string]any{".": map[string]any{}, "f:version": map[string]any{}}
			case "ports":
				spec["f:ports"] = map[string]any{".": map[string]any{},
					`k:{"name":"sql"}`: map[string]any{".": map[string]any{}, "f:name": map[string]any{}, "f:port": map[string]any{}}}
			case "zones":
				spec["f:zones"] = map[string]any{".": map[string]any{}, `v:"eu-1a"`: map[string]any{}}
			default:
				spec["f:"+f] = map[string]any{}
			}
		}
		tree := map[string]any{"f:spec": spec}
		if manager == FieldManager {
			tree["f:metadata"] = fields(konnectorMetadata...)
		}
		return map[string]any{"manager": manager, "operation": operation, "fieldsV1": tree}
	}
	metadata := func(c map[string]any, k string) map[string]any {
		return c["metadata"].(map[string]any)[k].(map[string]any)
	}
	written := func() map[string]any {
		c := desired().Object
		c["metadata"].(map[string]any)["managedFields"] = []any{entry(FieldManager, "Apply", "size", "engine", "tags", "db", "ports", "zones")}
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
				entry(FieldManager, "Apply", "size", "engine", "tags", "db", "ports", "zones"), entry("crossplane", "Update", "compositionRef")}
		}, want: true},
		{name: "a field the provider added within an object of the konnector's", change: func(c map[string]any) {
			spec(c)["db"].(map[string]any)["port"] = int64(5432)
		}, want: true},
		{name: "a field within an object of the konnector's changed on the provider", change: func(c map[string]any) {
			spec(c)["db"].(map[string]any)["version"] = "15"
		}, want: false},
		{name: "created, not applied yet", change: func(c map[string]any) {
			c["metadata"].(map[string]any)["managedFields"] = []any{entry(FieldManager, "Update", "size", "engine", "tags", "db", "ports", "zones")}
		}, want: true},
		{name: "created, then applied in part", change: func(c map[string]any) {
			c["metadata"].(map[string]any)["managedFields"] = []any{
				entry(FieldManager, "Update", "size", "engine"), entry(FieldManager, "Apply", "tags", "db", "ports", "zones")}
		}, want: true},
		{name: "a field of the konnector's made an object on the provider", change: func(c map[string]any) {
			spec(c)["engine"] = map[string]any{"name": "postgres"}
		}, want: false},
		{name: "a spec field of the konnector's gone on the provider", change: func(c map[string]any) { delete(spec(c), "engine") }, want: false},
		{name: "the spec changed on the provider", change: func(c map[string]any) { spec(c)["size"] = int64(4) }, want: false},
		{name: "a field the provider took over", change: func(c map[string]any) {
			c["metadata"].(map[string]any)["managedFields"] = []any{
				entry(FieldManager, "Apply", "engine", "tags", "db", "ports", "zones"), entry("someone", "Update", "size")}
		}, want: false},
		{name: "items the provider added to lists of the konnector's", change: func(c map[string]any) {
			spec(c)["ports"] = append(spec(c)["ports"].([]any), map[string]any{"name": "metrics", "port": int64(9187)})
			spec(c)["zones"] = []any{"eu-1b", "eu-1a"}
		}, want: true},
		{name: "a field the provider added to an item of the konnector's", change: func(c map[string]any) {
			spec(c)["ports"].([]any)[0].(map[string]any)["protocol"] = "TCP"
		}, want: true},
		{name: "an item of the konnector's changed on the provider", change: func(c map[string]any) {
			spec(c)["ports"] = []any{map[string]any{"name": "sql", "port": int64(5433)}}
		}, want: false},
		{name: "an item of the konnector's gone on the provider", change: func(c map[string]any) {
			spec(c)["ports"] = []any{map[string]any{"name": "metrics", "port": int64(9187)}}
			spec(c)["zones"] = []any{"eu-1b"}
		}, want: false},
		{name: "a list reordered", change: func(c map[string]any) { spec(c)["tags"] = []any{"b", "a"} }, want: false},
		{name: "no spec", change: func(c map[string]any) { delete(c, "spec") }, want: false},
		{name: "a label and an annotation the provider added", change: func(c map[string]any) {
			metadata(c, "labels")["crossplane.io/composite"] = "a-x1"
			metadata(c, "annotations")["crossplane.io/external-name"] = "a"
			c["metadata"].(map[string]any)["ownerReferences"] = []any{map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": "uid-9"}}
			c["metadata"].(map[string]any)["managedFields"] = []any{
				entry(FieldManager, "Apply", "size", "engine", "tags", "db", "ports", "zones"),
				map[string]any{"manager": "crossplane", "operation": "Update", "fieldsV1": map[string]any{"f:metadata": fields("labels/crossplane.io/composite", "annotations/crossplane.io/external-name")}}}
		}, want: true},
		{name: "a label of the konnector's changed on the provider", change: func(c map[string]any) {
			metadata(c, "labels")["team"] = "ops"
		}, want: false},
		{name: "an annotation of the konnector's gone on the provider", change: func(c map[string]any) {
			delete(metadata(c, "annotations"), OriginAnnotation)
		}, want: false},
		{name: "a label the konnector wrote and would no longer write", change: func(c map[string]any) {
			metadata(c, "labels")["tier"] = "gold"
			own := entry(FieldManager, "Apply", "size", "engine", "tags", "db", "ports", "zones")
			own["fieldsV1"].(map[string]any)["f:metadata"] = fields(append(konnectorMetadata, "labels/tier")...)
			c["metadata"].(map[string]any)["managedFields"] = []any{own}
		}, want: false},
		{name: "written by an earlier konnector, with the origin in annotations of their own", change: func(c map[string]any) {
			old := map[string]any{legacyOriginNamespaceAnnotation: "default", legacyOriginNameAnnotation: "a",
				legacyOriginUIDAnnotation: "uid-1", AppliedHashAnnotation: "0123"}
			c["metadata"].(map[string]any)["annotations"] = old
			own := entry(FieldManager, "Apply", "size", "engine", "tags", "db", "ports", "zones")
			own["fieldsV1"].(map[string]any)["f:metadata"] = fields("labels/"+ManagedByLabel, "labels/team",
				"annotations/"+legacyOriginNamespaceAnnotation, "annotations/"+legacyOriginNameAnnotation,
				"annotations/"+legacyOriginUIDAnnotation, "annotations/"+AppliedHashAnnotation)
			c["metadata"].(map[string]any)["managedFields"] = []any{own}
		}, want: false},
		{name: "without the konnector's managed fields, a provider's label counts", change: func(c map[string]any) {
			delete(c["metadata"].(map[string]any), "managedFields")
			metadata(c, "labels")["crossplane.io/composite"] = "a-x1"
		}, want: false},
		{name: "without the konnector's managed fields, as written", change: func(c map[string]any) {
			delete(c["metadata"].(map[string]any), "managedFields")
		}, want: true},
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
			assert.Empty(t, cached.GetLabels(), "the cache keeps a digest of the labels, not the labels")
			assert.Empty(t, cached.GetOwnerReferences(), "the cache keeps no owner references")
			for k := range cached.GetAnnotations() {
				assert.Contains(t, originAnnotations, k, "the cache keeps only the origin of the annotations")
			}
			wholeKey, wholeUID, wholeOK := originOf(whole)
			cachedKey, cachedUID, cachedOK := originOf(cached)
			assert.Equal(t, []any{wholeKey, wholeUID, wholeOK}, []any{cachedKey, cachedUID, cachedOK}, "the cache keeps the origin")
			assert.Equal(t, whole.Object["status"], cached.Object["status"], "the cache keeps the status")
			assert.Equal(t, tc.want, upToDate(desired(), cached), "the cached copy")
			twice := cached.DeepCopy()
			_, err = slimCopy(twice)
			assert.NoError(t, err)
			assert.Equal(t, cached, twice, "a copy slimmed twice is slimmed once")
		})
	}
}
