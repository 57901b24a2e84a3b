package binding

import (
	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	conditionsapi "github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/apis/conditions/v1alpha1"
)

// Condition reasons of a binding, each documented for users in
// docs/konnector.md ("Conditions"), with what to do about it.
const (
	ReasonSecretMissing        = "SecretMissing"
	ReasonSecretInvalid        = "SecretInvalid"
	ReasonUnreachable          = "ProviderUnreachable"
	ReasonExportNotFound       = "ExportNotFound"
	ReasonForeignCRD           = "ForeignCRD"
	ReasonConflict             = "Conflict"
	ReasonNotEstablished       = "CRDNotEstablished"
	ReasonIsolationUnsupported = "IsolationUnsupported"
	ReasonNoClusterBinding     = "ClusterBindingNotFound"
	ReasonInvalidExport        = "InvalidExport"
	ReasonInvalidBinding       = "InvalidBinding"
	ReasonClaimsNotAccepted    = "ClaimsNotAccepted"
	ReasonProviderChanged      = "ProviderChanged"
	ReasonHeartbeatFailed      = "HeartbeatFailed"
	ReasonUpdateRefused        = "UpdateRefused"
	ReasonDeleting             = "Deleting"
	ReasonSchemaUpdateRefused  = "SchemaUpdateRefused"
	ReasonSchemaUpdateHeld     = "SchemaUpdateHeld"
	ReasonSchemaMismatch       = "SchemaMismatch"
	ReasonNamespaceConflict    = "NamespaceConflict"
	ReasonNamespaceInUse       = "NamespaceInUse"
	ReasonNoNamespace          = "NoNamespace"
)

// Bindery's own conditions of a binding, besides kube-bind's.
const (
	// ConditionSyncing says the binding's sync engine runs with the
	// export's settings.
	ConditionSyncing conditionsapi.ConditionType = "Syncing"
	// ConditionClaimsAccepted says the binding accepted every permission
	// claim the provider asks for; when False, only the accepted ones are
	// copied. It is not part of Ready: the objects sync meanwhile.
	ConditionClaimsAccepted conditionsapi.ConditionType = "ClaimsAccepted"
	// ConditionNamespacesBound says a binding limited to namespaces
	// serves exactly the ones it asks for: none is served by another
	// binding of the resource, and none it gave up still holds objects.
	ConditionNamespacesBound conditionsapi.ConditionType = "NamespacesBound"
)

// readyFrom are the conditions Ready summarizes, in the order of the steps
// that set them.
var readyFrom = []conditionsapi.ConditionType{
	kubebindv1alpha1.APIServiceBindingConditionSecretValid,
	kubebindv1alpha1.APIServiceBindingConditionConnected,
	kubebindv1alpha1.APIServiceBindingConditionHeartbeating,
	kubebindv1alpha1.APIServiceBindingConditionSchemaInSync,
	ConditionNamespacesBound,
	ConditionSyncing,
}
