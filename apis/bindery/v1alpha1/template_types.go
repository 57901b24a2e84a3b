package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// APIServiceExportTemplate describes one service that the platform operator
// offers to consumer clusters: the CRDs it is made of, the related Secrets
// and ConfigMaps that travel with it, and how it may change over time. Users
// pick a template in the browser or with `kubectl bind`; the backend turns
// the choice into APIServiceExports.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,categories=bindery,shortName=exporttemplate;ext
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Display Name",type="string",JSONPath=`.spec.displayName`
// +kubebuilder:printcolumn:name="Resources",type="string",JSONPath=`.status.resourceSummary`
// +kubebuilder:printcolumn:name="Ready",type="string",JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type="string",JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=`.metadata.creationTimestamp`
type APIServiceExportTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec describes the offered service.
	// +required
	Spec APIServiceExportTemplateSpec `json:"spec"`

	// status reports whether the service can be bound right now.
	// +optional
	Status APIServiceExportTemplateStatus `json:"status,omitempty"`
}

// APIServiceExportTemplateSpec describes an offered service.
//
// +kubebuilder:validation:XValidation:rule="!has(self.permissionClaims) || self.permissionClaims.all(c, !has(c.selector.reference) || !has(c.selector.reference.resource) || self.resources.exists(r, r.resource == c.selector.reference.resource.resource && r.group == c.selector.reference.resource.group))",message="a permission claim's selector.reference.resource must name one of spec.resources"
// +kubebuilder:validation:XValidation:rule="!has(self.permissionClaims) || size(self.resources) == 1 || self.permissionClaims.all(c, !has(c.selector.reference) || has(c.selector.reference.resource))",message="with more than one resource, a permission claim's selector.reference must name the resource it reads the reference from"
type APIServiceExportTemplateSpec struct {
	// displayName is the service's name as shown to users in the browser and
	// the CLI, e.g. "PostgreSQL database".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	DisplayName string `json:"displayName"`

	// description tells users what the service is and what they get, in a
	// sentence or a short paragraph.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Description string `json:"description,omitempty"`

	// resources are the CRDs on the control plane that make up the service.
	// All of them must have the same scope (all namespaced or all
	// cluster-scoped).
	// +required
	// +listType=map
	// +listMapKey=group
	// +listMapKey=resource
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	Resources []ExportedResource `json:"resources"`

	// permissionClaims are the related objects that travel with the service,
	// for example the connection Secret a Crossplane composition writes for
	// each claim (provider to consumer), or a ConfigMap of settings the user
	// supplies (consumer to provider).
	// +optional
	// +kubebuilder:validation:MaxItems=32
	PermissionClaims []PermissionClaim `json:"permissionClaims,omitempty"`

	// scope says which consumer namespaces are synchronized: all of them
	// (Cluster, like Upbound's ClusterAPIBinding) or a fixed list
	// (Namespaces, like Upbound's APIBinding). When unset, every consumer
	// namespace is synchronized.
	// +optional
	Scope *BindingScope `json:"scope,omitempty"`

	// schemaUpdatePolicy says what happens to existing bindings when a CRD
	// of this service changes on the control plane:
	// NonBreaking (the default) applies additive changes and refuses
	// breaking ones with a condition; Always applies every change; Never
	// keeps the schema that was bound.
	// +optional
	// +kubebuilder:default=NonBreaking
	SchemaUpdatePolicy SchemaUpdatePolicy `json:"schemaUpdatePolicy,omitempty"`

	// clusterScopedIsolation says how the objects of cluster-scoped
	// resources of different consumers are kept apart on the control plane:
	// Prefixed (the default) names them "<cluster namespace>-<name>"; None
	// keeps names as they are, for resources that only one consumer binds.
	// Namespaced (kube-bind's mapping into the consumer's namespace) is for
	// CRDs that are namespaced on the control plane: consumers get them
	// cluster-scoped, and each consumer's objects keep their names in its
	// cluster namespace; a cluster-scoped CRD cannot be offered this way.
	// Either way a consumer reads and changes only its own objects.
	// Prefixed and None have no effect for namespaced resources.
	// +optional
	// +kubebuilder:default=Prefixed
	ClusterScopedIsolation Isolation `json:"clusterScopedIsolation,omitempty"`
}

// ExportedResource names one CRD on the control plane.
type ExportedResource struct {
	// group is the API group of the CRD, e.g. "db.example.com". Built-in
	// Kubernetes groups cannot be exported.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Group string `json:"group"`

	// resource is the plural resource name of the CRD, e.g. "databases".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z][-a-z0-9]*[a-z0-9]$`
	Resource string `json:"resource"`

	// versions are the served versions of the CRD to offer. Empty means
	// every served version.
	// +optional
	// +listType=set
	// +kubebuilder:validation:items:Pattern=`^v[1-9][0-9]*([a-z]+[1-9][0-9]*)?$`
	Versions []string `json:"versions,omitempty"`

	// maxObjectsPerNamespace is how many objects of this resource one
	// consumer may have in each of its namespaces on the provider; for a
	// cluster-scoped resource, how many it may have in all. Unset means
	// the backend's --max-objects-per-namespace; 0 means no bound.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MaxObjectsPerNamespace *int32 `json:"maxObjectsPerNamespace,omitempty"`
}

// ClaimDirection is the way a claimed object travels.
// +kubebuilder:validation:Enum=ProviderToConsumer;ConsumerToProvider
type ClaimDirection string

const (
	// ClaimProviderToConsumer copies objects created on the control plane
	// into the consumer cluster, e.g. connection Secrets.
	ClaimProviderToConsumer ClaimDirection = "ProviderToConsumer"
	// ClaimConsumerToProvider copies objects the consumer creates onto the
	// control plane, e.g. a user-supplied configuration.
	ClaimConsumerToProvider ClaimDirection = "ConsumerToProvider"
)

// PermissionClaim is a kind of related object that travels with the
// service, in one direction, chosen by exactly one selector.
//
// +kubebuilder:validation:XValidation:rule="size(self.group) == 0 && (self.resource == 'secrets' || self.resource == 'configmaps')",message="only core secrets and configmaps can be claimed (group \"\", resource secrets or configmaps)"
type PermissionClaim struct {
	// group is the API group of the claimed objects; "" for the core group.
	// +optional
	// +kubebuilder:default=""
	Group string `json:"group"`

	// resource is the plural resource name of the claimed objects:
	// secrets or configmaps.
	// +required
	Resource string `json:"resource"`

	// direction is the way the objects travel: ProviderToConsumer or
	// ConsumerToProvider.
	// +required
	Direction ClaimDirection `json:"direction"`

	// selector chooses which objects are claimed.
	// +required
	Selector ClaimSelector `json:"selector"`
}

// ClaimSelector chooses claimed objects. Exactly one field must be set.
//
// +kubebuilder:validation:XValidation:rule="(has(self.names) ? 1 : 0) + (has(self.labelSelector) ? 1 : 0) + (has(self.reference) ? 1 : 0) == 1",message="exactly one of names, labelSelector or reference must be set"
type ClaimSelector struct {
	// names lists object names, in the namespace of the bound object.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	Names []string `json:"names,omitempty"`

	// labelSelector selects objects by label, in the namespaces of bound
	// objects.
	// +optional
	LabelSelector *metav1.LabelSelector `json:"labelSelector,omitempty"`

	// reference selects the object whose name a bound object holds at a
	// path, e.g. spec.writeConnectionSecretToRef.name.
	// +optional
	Reference *ClaimReference `json:"reference,omitempty"`
}

// ClaimReference reads the claimed object's name (and optionally namespace)
// from each bound object.
type ClaimReference struct {
	// resource is the exported resource whose objects hold the reference.
	// Required when the template has more than one resource.
	// +optional
	Resource *GroupResource `json:"resource,omitempty"`

	// namePath is the dotted path of the field holding the claimed object's
	// name, e.g. "spec.writeConnectionSecretToRef.name".
	// +required
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$`
	NamePath string `json:"namePath"`

	// namespacePath is the dotted path of the field holding the claimed
	// object's namespace. When empty, the claimed object is in the bound
	// object's namespace.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$`
	NamespacePath string `json:"namespacePath,omitempty"`
}

// GroupResource names a resource by group and plural name.
type GroupResource struct {
	// group is the API group.
	// +required
	Group string `json:"group"`
	// resource is the plural resource name.
	// +required
	Resource string `json:"resource"`
}

// BindingScopeType says which consumer namespaces a binding covers.
// +kubebuilder:validation:Enum=Cluster;Namespaces
type BindingScopeType string

const (
	// BindingScopeCluster covers every namespace of the consumer cluster.
	BindingScopeCluster BindingScopeType = "Cluster"
	// BindingScopeNamespaces covers only the listed consumer namespaces.
	BindingScopeNamespaces BindingScopeType = "Namespaces"
)

// BindingScope says which consumer namespaces are synchronized.
//
// +kubebuilder:validation:XValidation:rule="(has(self.type) && self.type == 'Namespaces') ? (has(self.namespaces) && size(self.namespaces) > 0) : !has(self.namespaces)",message="namespaces must be listed when type is Namespaces, and only then"
type BindingScope struct {
	// type is Cluster (every consumer namespace) or Namespaces (only those
	// listed in namespaces). Defaults to Cluster.
	// +optional
	// +kubebuilder:default=Cluster
	Type BindingScopeType `json:"type,omitempty"`

	// namespaces are the consumer namespaces whose objects are
	// synchronized, when type is Namespaces.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:items:MaxLength=63
	Namespaces []string `json:"namespaces,omitempty"`
}

// SchemaUpdatePolicy says how CRD changes on the control plane reach
// existing bindings.
// +kubebuilder:validation:Enum=Never;NonBreaking;Always
type SchemaUpdatePolicy string

const (
	// SchemaUpdateNever keeps the schema that was bound.
	SchemaUpdateNever SchemaUpdatePolicy = "Never"
	// SchemaUpdateNonBreaking applies additive changes and refuses breaking
	// ones.
	SchemaUpdateNonBreaking SchemaUpdatePolicy = "NonBreaking"
	// SchemaUpdateAlways applies every change.
	SchemaUpdateAlways SchemaUpdatePolicy = "Always"
)

// Isolation says how cluster-scoped objects of different consumers are
// kept apart on the control plane. The values are kube-bind's.
// +kubebuilder:validation:Enum=Prefixed;Namespaced;None
type Isolation string

const (
	// IsolationPrefixed prefixes object names with the consumer identity.
	IsolationPrefixed Isolation = "Prefixed"
	// IsolationNamespaced puts objects in the consumer's namespace.
	IsolationNamespaced Isolation = "Namespaced"
	// IsolationNone keeps object names as they are.
	IsolationNone Isolation = "None"
)

// Condition types and reasons of an APIServiceExportTemplate.
const (
	// TemplateConditionReady is True when every resource exists, is
	// established and offers the listed versions, and all have one scope.
	TemplateConditionReady = "Ready"
	// TemplateConditionSchemaUpdatesApplied is False when a CRD change was
	// refused by the schema update policy.
	TemplateConditionSchemaUpdatesApplied = "SchemaUpdatesApplied"

	ReasonAllResourcesEstablished = "AllResourcesEstablished"
	ReasonResourcesMissing        = "ResourcesMissing"
	ReasonResourcesNotEstablished = "ResourcesNotEstablished"
	ReasonVersionsMissing         = "VersionsMissing"
	ReasonMixedScopes             = "MixedScopes"
	ReasonBreakingChange          = "BreakingChange"
	ReasonUpToDate                = "UpToDate"
)

// APIServiceExportTemplateStatus reports whether the service can be bound.
type APIServiceExportTemplateStatus struct {
	// observedGeneration is the generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// resources reports each resource of the spec as found on the control
	// plane.
	// +optional
	// +listType=map
	// +listMapKey=group
	// +listMapKey=resource
	Resources []ResourceStatus `json:"resources,omitempty"`

	// resourceSummary is a short human-readable list of the resources, for
	// `kubectl get`.
	// +optional
	ResourceSummary string `json:"resourceSummary,omitempty"`

	// boundConsumers counts the consumer clusters bound to this template.
	// +optional
	BoundConsumers int32 `json:"boundConsumers,omitempty"`

	// conditions: Ready says whether the service can be bound, and why not.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ResourceState is what was found for a resource of a template.
// +kubebuilder:validation:Enum=Established;NotEstablished;Missing;VersionsMissing
type ResourceState string

const (
	ResourceEstablished     ResourceState = "Established"
	ResourceNotEstablished  ResourceState = "NotEstablished"
	ResourceMissing         ResourceState = "Missing"
	ResourceVersionsMissing ResourceState = "VersionsMissing"
)

// ResourceStatus is what was found on the control plane for one resource.
type ResourceStatus struct {
	// group of the resource.
	Group string `json:"group"`
	// resource is the plural resource name.
	Resource string `json:"resource"`
	// state is Established, NotEstablished, Missing or VersionsMissing.
	State ResourceState `json:"state"`
	// scope of the CRD, when it exists.
	// +optional
	Scope string `json:"scope,omitempty"`
	// message explains a state other than Established.
	// +optional
	Message string `json:"message,omitempty"`
}

// APIServiceExportTemplateList is a list of APIServiceExportTemplates.
//
// +kubebuilder:object:root=true
type APIServiceExportTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []APIServiceExportTemplate `json:"items"`
}
