package sync

import (
	"strings"
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
	Finalizer = "bindery.dev/konnector"
	// OrphanAnnotation, set to "true" on a consumer object or on its
	// APIServiceBinding, keeps the provider copy when the consumer object
	// is deleted.
	OrphanAnnotation = "bindery.dev/orphan"
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
