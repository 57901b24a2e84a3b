package v1alpha1

// Annotations the backend sets on kube-bind objects for konnectors to read.
// Upstream kube-bind konnectors ignore them.
const (
	// PermissionClaimsAnnotation, on an APIServiceExport, holds the JSON
	// list of the PermissionClaims of its service at the time of binding:
	// the Secrets and ConfigMaps that travel with the bound objects.
	PermissionClaimsAnnotation = "bindery.dev/permission-claims"
	// ConsumerNamespacesAnnotation, on an APIServiceExport, holds the
	// comma-separated consumer namespaces the service covers; absent means
	// all of them.
	ConsumerNamespacesAnnotation = "bindery.dev/consumer-namespaces"
)
