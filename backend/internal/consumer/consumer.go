// Package consumer holds what identifies a consumer cluster's objects on
// the control plane: the labels and annotations of its namespaces and the
// names of its ServiceAccount and RBAC.
package consumer

import binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"

const (
	// RoleLabel marks the namespaces Bindery creates: RoleCluster for the
	// one namespace of a consumer cluster, RoleService for the namespace of
	// one bound consumer namespace.
	RoleLabel   = "bindery.dev/namespace-role"
	RoleCluster = "cluster"
	RoleService = "service"

	// ClusterNamespaceLabel, on a service namespace, names its cluster
	// namespace.
	ClusterNamespaceLabel = binderyv1alpha1.ClusterNamespaceLabel
	// ConsumerNamespaceAnnotation, on a service namespace, names the
	// consumer namespace it holds objects of.
	ConsumerNamespaceAnnotation = "bindery.dev/consumer-namespace"

	// Identity annotations on a cluster namespace.
	IssuerAnnotation    = "bindery.dev/consumer-issuer"
	SubjectAnnotation   = "bindery.dev/consumer-subject"
	ClusterIDAnnotation = "bindery.dev/consumer-cluster-id"
	// SubjectLabel, on a cluster namespace, is a hash of the user's issuer
	// and subject, so that a user's clusters can be listed (and their
	// creation bounded).
	SubjectLabel = "bindery.dev/consumer-subject-hash"
	// NameAnnotation and GroupsAnnotation (a JSON list), on a cluster
	// namespace, record the user's name and groups at the last bind, so
	// that the allow-lists can be checked again before each renewal.
	NameAnnotation   = "bindery.dev/consumer-name"
	GroupsAnnotation = "bindery.dev/consumer-groups"
	// OperatorIssuer is the issuer recorded for consumers an operator
	// onboarded with bindery-backend issue-kubeconfig, not through a login;
	// the allow-lists do not apply to them.
	OperatorIssuer = "bindery-backend/issue-kubeconfig"
	// ClusterKeyAnnotation, on a cluster namespace, is the SHA-256 of the
	// cluster key (bindprotocol.ClusterKey) the cluster first bound with;
	// later binds must show the same key.
	ClusterKeyAnnotation = "bindery.dev/cluster-key-sha256"
	// BoundSessionsAnnotation, on a cluster namespace, records the login
	// sessions that have bound (hashed, with their expiry), so that a
	// session binds once, on whichever replica.
	BoundSessionsAnnotation = "bindery.dev/bound-sessions"

	// TemplateLabel, on an APIServiceExport, names the template (or the
	// exported CRD) it was created from.
	TemplateLabel = "bindery.dev/template"
	// SourceAnnotation, on an APIServiceExport, is "Template" or
	// "ExportedCRD".
	SourceAnnotation = "bindery.dev/source"
	// TemplateAnnotation, on an APIServiceExportRequest, asks for a
	// specific template; without it any service offering all requested
	// resources is used.
	TemplateAnnotation = "bindery.dev/template"

	// QuotaName is the ResourceQuota in each cluster namespace that bounds
	// what the consumer can create there, and in each service namespace.
	QuotaName = "bindery-consumer"
	// ObjectsQuotaName is the ResourceQuota that bounds the consumer's
	// exported objects: in each service namespace, and in its cluster
	// namespace for cluster-scoped resources exported with Namespaced
	// isolation, whose objects live there.
	ObjectsQuotaName = "bindery-consumer-objects"

	// ServiceNamespaceFinalizer guards an APIServiceNamespace until its
	// provider namespace and grants are gone.
	ServiceNamespaceFinalizer = "bindery.dev/service-namespace"

	// ServiceAccountName is the consumer's ServiceAccount in its cluster
	// namespace.
	ServiceAccountName = "konnector"
	// KubeconfigSecretName holds the consumer's kubeconfig in its cluster
	// namespace; the ClusterBinding references it.
	KubeconfigSecretName = "kubeconfig"
	// ClusterBindingName is kube-bind's singleton name.
	ClusterBindingName = "cluster"

	// FieldManager is the backend's server-side apply field manager.
	FieldManager = "bindery-backend"
)
