package objectsync

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/cache"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
)

// Labels and annotations on provider copies. They say where a copy came
// from, so that operators can find the consumer object of any provider
// object, like Upbound's connect.upbound.io/managed and api-syncagent's
// remote-object labels.
const (
	// ManagedByLabel marks provider copies made by a konnector.
	ManagedByLabel = "bindery.dev/managed-by"
	ManagedByValue = "konnector"
	// ConsumerClusterLabel is the consumer cluster's ID.
	ConsumerClusterLabel = "bindery.dev/consumer-cluster"
	// OriginAnnotation names the consumer object: "<namespace>/<name>/<uid>",
	// or "<name>/<uid>" for a cluster-scoped object. One annotation, not
	// one per part: each key a copy carries costs the provider's API
	// server on every write of the copy, the operator's included.
	OriginAnnotation = "bindery.dev/origin"

	// Finalizer guards a consumer object until its provider copy is gone.
	Finalizer = binderyv1alpha1.KonnectorFinalizer
	// OrphanAnnotation, set to "true" on a consumer object or on its
	// APIServiceBinding, keeps the provider copy when the consumer object
	// is deleted.
	OrphanAnnotation = binderyv1alpha1.OrphanAnnotation
	// SyncedGenerationAnnotation, on a consumer object, is the generation
	// whose spec last reached the provider; it is an annotation so that it
	// never competes with the provider's own status.
	SyncedGenerationAnnotation = "bindery.dev/synced-generation"

	// AppliedHashAnnotation, on a copy of a claimed Secret or ConfigMap,
	// is the hash of what the konnector last applied, so that it applies
	// only changes. Copies of bound objects carry none: their cache keeps
	// digests of what the konnector owns (digestCopy).
	AppliedHashAnnotation = "bindery.dev/applied-hash"

	// FieldManager is the server-side apply field manager on provider
	// copies; fields other managers own (provider controllers) are kept.
	FieldManager = "bindery-konnector"
)

// The origin annotations of copies written by earlier builds of the
// konnector, read so that such copies still lead to their objects
// until the konnector next applies them (which removes these).
const (
	legacyOriginNamespaceAnnotation = "bindery.dev/origin-namespace"
	legacyOriginNameAnnotation      = "bindery.dev/origin-name"
	legacyOriginUIDAnnotation       = "bindery.dev/origin-uid"
)

// systemPrefixes are label and annotation prefixes that are not copied:
// they belong to the cluster they are set in.
var systemPrefixes = []string{
	"kubectl.kubernetes.io/", "kubernetes.io/", "k8s.io/", "bindery.dev/", "kube-bind.io/",
	"meta.helm.sh/", "argocd.argoproj.io/",
}

// isSystem reports whether a label or annotation key is a system one.
func isSystem(key string) bool {
	for _, p := range systemPrefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// userMetadata returns the keys of m that are not system ones.
func userMetadata(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if !isSystem(k) {
			out[k] = v
		}
	}
	return out
}

// stampCopy gives out, a copy of src in another cluster, src's user
// labels and annotations, the managed-by label plus extra labels, and
// the origin annotation.
func stampCopy(out, src *unstructured.Unstructured, extra map[string]string) {
	l := userMetadata(src.GetLabels())
	l[ManagedByLabel] = ManagedByValue
	for k, v := range extra {
		l[k] = v
	}
	out.SetLabels(l)
	a := userMetadata(src.GetAnnotations())
	a[OriginAnnotation] = keyOf(src) + "/" + string(src.GetUID())
	out.SetAnnotations(a)
}

// originOf returns the consumer key ("namespace/name", or "name" for a
// cluster-scoped object) and UID a copy's origin annotation names, from
// an informer event's object.
func originOf(obj any) (key cache.ObjectName, uid string, ok bool) {
	if d, isD := obj.(cache.DeletedFinalStateUnknown); isD {
		obj = d.Obj
	}
	u, isU := obj.(metav1.Object)
	if !isU {
		return cache.ObjectName{}, "", false
	}
	a := u.GetAnnotations()
	if origin, has := a[OriginAnnotation]; has {
		k, uid, cut := cutLast(origin, "/")
		if !cut || k == "" || uid == "" {
			return cache.ObjectName{}, "", false
		}
		key, err := cache.ParseObjectName(k)
		return key, uid, err == nil
	}
	if a[legacyOriginNameAnnotation] == "" {
		return cache.ObjectName{}, "", false
	}
	return cache.NewObjectName(a[legacyOriginNamespaceAnnotation], a[legacyOriginNameAnnotation]), a[legacyOriginUIDAnnotation], true
}

// originUID returns the UID of the consumer object a copy comes from, or
// "" when it names none.
func originUID(copyObj *unstructured.Unstructured) string {
	_, uid, _ := originOf(copyObj)
	return uid
}

// cutLast slices s around the last sep.
func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// keyOf is the cache key of a consumer object: "namespace/name", or
// "name" when cluster-scoped.
func keyOf(obj metav1.Object) string { return cache.MetaObjectToName(obj).String() }
