package objectsync

import (
	"strings"

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
	// Origin annotations name the consumer object.
	OriginNamespaceAnnotation = "bindery.dev/origin-namespace"
	OriginNameAnnotation      = "bindery.dev/origin-name"
	OriginUIDAnnotation       = "bindery.dev/origin-uid"

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

	// AppliedHashAnnotation, on a provider copy, is the hash of what the
	// konnector last applied, so that it applies only changes.
	AppliedHashAnnotation = "bindery.dev/applied-hash"

	// FieldManager is the server-side apply field manager on provider
	// copies; fields other managers own (provider controllers) are kept.
	FieldManager = "bindery-konnector"
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
// labels and annotations, the managed-by label plus extra labels, the
// origin annotations, and the hash of all of it (AppliedHashAnnotation),
// so that an unchanged copy is not written again.
func stampCopy(out, src *unstructured.Unstructured, extra map[string]string) {
	l := userMetadata(src.GetLabels())
	l[ManagedByLabel] = ManagedByValue
	for k, v := range extra {
		l[k] = v
	}
	out.SetLabels(l)
	a := userMetadata(src.GetAnnotations())
	a[OriginNamespaceAnnotation] = src.GetNamespace()
	a[OriginNameAnnotation] = src.GetName()
	a[OriginUIDAnnotation] = string(src.GetUID())
	out.SetAnnotations(a)
	a[AppliedHashAnnotation] = hashOf(out.Object)
	out.SetAnnotations(a)
}

// originOf returns the consumer key ("namespace/name", or "name" for a
// cluster-scoped object) and UID a copy's
// origin annotations name, from an informer event's object.
func originOf(obj any) (key cache.ObjectName, uid string, ok bool) {
	if d, isD := obj.(cache.DeletedFinalStateUnknown); isD {
		obj = d.Obj
	}
	u, isU := obj.(*unstructured.Unstructured)
	if !isU {
		return cache.ObjectName{}, "", false
	}
	a := u.GetAnnotations()
	if a[OriginNameAnnotation] == "" {
		return cache.ObjectName{}, "", false
	}
	return cache.NewObjectName(a[OriginNamespaceAnnotation], a[OriginNameAnnotation]), a[OriginUIDAnnotation], true
}

// keyOf is the cache key of a consumer object: "namespace/name", or
// "name" when cluster-scoped.
func keyOf(obj *unstructured.Unstructured) string { return cache.MetaObjectToName(obj).String() }
