package v1alpha1

// Annotations the backend sets on kube-bind objects for konnectors to read.
// Upstream kube-bind konnectors ignore them.
const (
	// PermissionClaimsAnnotation, on an APIServiceExport, holds the JSON
	// list of the PermissionClaims of its service, kept current by the
	// backend (konnectors copy only those their users accepted):
	// the Secrets and ConfigMaps that travel with the bound objects.
	PermissionClaimsAnnotation = "bindery.dev/permission-claims"
	// ConsumerNamespacesAnnotation, on an APIServiceExport, holds the
	// comma-separated consumer namespaces the service covers; absent means
	// all of them.
	ConsumerNamespacesAnnotation = "bindery.dev/consumer-namespaces"
	// MaxObjectsAnnotation, on an APIServiceExport, is its service's bound
	// on a consumer's objects of the resource per namespace
	// (maxObjectsPerNamespace); absent means the backend's own.
	MaxObjectsAnnotation = "bindery.dev/max-objects-per-namespace"
	// AcceptedClaimsAnnotation, on an APIServiceBinding, holds the JSON
	// list of the permission claims the user accepted when binding;
	// kubectl bind grants the konnector their kinds.
	AcceptedClaimsAnnotation = "bindery.dev/accepted-claims"
	// SchemaUpdatePolicyAnnotation, on an APIServiceBinding, is how the
	// konnector follows the provider's schema changes: NonBreaking (the
	// default) or Never.
	SchemaUpdatePolicyAnnotation = "bindery.dev/schema-update-policy"
	// ExportAnnotation, on an APIServiceBinding, names the
	// APIServiceExport it binds when the binding's name is not the
	// export's: a second binding of one resource, from another provider,
	// for other namespaces.
	ExportAnnotation = "bindery.dev/export"
	// BindingNamespacesAnnotation, on an APIServiceBinding, holds the
	// comma-separated consumer namespaces the binding is limited to
	// (kubectl bind --namespace); absent means all of them. Bindings of
	// one resource from several providers must each be limited, to
	// namespaces no other binding of it serves.
	BindingNamespacesAnnotation = "bindery.dev/namespaces"
	// ServingNamespacesAnnotation, on a namespace-limited
	// APIServiceBinding, is written by the konnector: the consumer
	// namespaces the binding serves now. It differs from
	// BindingNamespacesAnnotation while a namespace the binding gives up
	// still holds objects, or one it asks for is served by another binding.
	ServingNamespacesAnnotation = "bindery.dev/serving-namespaces"
	// ExportSchemaAnnotation, on a namespace-limited APIServiceBinding, is
	// written by the konnector: the hash of the schema its provider's
	// export offers. A CRD that several bindings share changes only when
	// they all offer the same schema.
	ExportSchemaAnnotation = "bindery.dev/export-schema"
)

// ClusterNamespaceLabel, on a cluster-scoped provider copy, names the
// cluster namespace of the consumer it belongs to. A konnector may only
// write such copies with its own cluster namespace in this label (an
// admission policy checks it), and the backend grants it access to the
// copies that carry it, by name. On a service namespace it names the
// cluster namespace the service namespace belongs to.
const ClusterNamespaceLabel = "bindery.dev/cluster-namespace"

// KonnectorFinalizer is the konnector's finalizer: on a bound consumer
// object it waits until the provider copy is gone (or released), and on
// an APIServiceBinding until its objects are handled.
const KonnectorFinalizer = "bindery.dev/konnector"

// OrphanAnnotation, set to "true" on a bound consumer object or on its
// APIServiceBinding (kubectl bind unbind --orphan sets it), keeps the
// provider copy when the consumer object is deleted.
const OrphanAnnotation = "bindery.dev/orphan"

// ClaimedByLabel, on a Secret or ConfigMap a konnector copied for a
// permission claim, names the binding whose claim made it. On the
// provider, an admission policy lets a konnector write only such copies.
const ClaimedByLabel = "bindery.dev/claimed-by"
