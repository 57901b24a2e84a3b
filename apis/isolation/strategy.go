// Package isolation decides, for each way of isolating consumers on the
// provider, where a consumer's object lives on the provider and how it
// is named there, which labels its copy carries, and what the backend
// grants and admits for it. The konnector's sync engine, the backend's
// grants and admission policy, and the service catalogue all ask a
// Strategy, so that a new mode is one new file plus its registration
// in strategies.
//
// A namespaced resource is served by ServiceNamespaced: each consumer
// namespace gets its own provider namespace. A cluster-scoped resource
// is served by the mode its export names (kube-bind's
// clusterScopedIsolation): Prefixed, None or Namespaced.
package isolation

import (
	"errors"
	"fmt"
	"slices"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Strategy is one isolation mode.
type Strategy interface {
	// Mode is the mode's name: an APIServiceExport's
	// clusterScopedIsolation, or ServiceNamespaced.
	Mode() kubebindv1alpha1.Isolation
	// ProviderScope is the scope of the resource's copies on the
	// provider.
	ProviderScope() apiextensionsv1.ResourceScope
	// ToProvider returns where the consumer object key of consumer c
	// lives on the provider. ErrNamespaceNotAssigned means the backend
	// has not assigned the object's consumer namespace a provider
	// namespace yet; ErrNameTooLong that the object cannot be synced.
	ToProvider(c Consumer, key types.NamespacedName) (types.NamespacedName, error)
	// ToConsumer returns the consumer key of the provider copy key of
	// consumer c; ok is false when key cannot be c's.
	ToConsumer(c Consumer, key types.NamespacedName) (types.NamespacedName, bool)
	// CopyLabels are the labels a copy must carry besides the
	// konnector's own, for the backend's grant and admission policy.
	CopyLabels(c Consumer) map[string]string
	// Grant says how the backend grants a konnector its copies, and
	// what its admission policy checks.
	Grant() Grant
}

// Consumer is what a strategy knows of one consumer cluster.
type Consumer struct {
	// ClusterNamespace is the consumer's namespace on the provider.
	ClusterNamespace string
	// ServiceNamespaces maps the consumer's namespaces to their provider
	// namespaces and back; only ServiceNamespaced uses it.
	ServiceNamespaces Namespaces
}

// Namespaces maps consumer namespaces to the provider namespaces the
// backend assigned them (a konnector's APIServiceNamespaces).
type Namespaces interface {
	// ProviderNamespace returns the provider namespace of consumer
	// namespace ns, once assigned.
	ProviderNamespace(ns string) (string, bool)
	// ConsumerNamespace returns the consumer namespace that provider
	// namespace pns serves.
	ConsumerNamespace(pns string) (string, bool)
}

// GrantScope is where the backend grants a konnector its copies.
type GrantScope string

const (
	// InServiceNamespace: a Role in each service namespace.
	InServiceNamespace GrantScope = "ServiceNamespace"
	// InClusterNamespace: a Role in the consumer's cluster namespace.
	InClusterNamespace GrantScope = "ClusterNamespace"
	// ByName: a ClusterRole with create on the resource and every other
	// verb on the names of the consumer's copies, made safe by the
	// admission policy.
	ByName GrantScope = "ByName"
)

// Grant says how the backend grants and admits a mode's copies.
type Grant struct {
	Scope GrantScope
	// Admitted says the cluster-objects admission policy checks writes:
	// a konnector may write only copies labelled with its own cluster
	// namespace.
	Admitted bool
	// Prefixed says the policy also checks that names start with the
	// consumer's cluster namespace and a dash.
	Prefixed bool
}

// Errors a strategy returns from ToProvider.
var (
	ErrNamespaceNotAssigned = errors.New("the consumer namespace has no provider namespace yet")
	ErrNameTooLong          = errors.New("the name is too long for the provider")
)

// ServiceNamespaced is the mode of namespaced resources; it is no
// clusterScopedIsolation value.
const ServiceNamespaced kubebindv1alpha1.Isolation = "ServiceNamespaced"

// strategies are the cluster-scoped modes, by name.
var strategies = map[kubebindv1alpha1.Isolation]Strategy{
	kubebindv1alpha1.IsolationPrefixed:   prefixed{},
	kubebindv1alpha1.IsolationNone:       none{},
	kubebindv1alpha1.IsolationNamespaced: namespaced{},
}

// For returns the strategy of a resource that consumers see with scope,
// exported with the cluster-scoped isolation mode; mode matters only for
// cluster-scoped resources.
func For(scope apiextensionsv1.ResourceScope, mode kubebindv1alpha1.Isolation) (Strategy, error) {
	if scope != apiextensionsv1.ClusterScoped {
		return serviceNamespaced{}, nil
	}
	if s, ok := strategies[mode]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("cluster-scoped isolation %q is not supported; supported are %v", mode, Modes())
}

// Modes lists the supported cluster-scoped modes, sorted.
func Modes() []kubebindv1alpha1.Isolation {
	out := make([]kubebindv1alpha1.Isolation, 0, len(strategies))
	for m := range strategies {
		out = append(out, m)
	}
	slices.Sort(out)
	return out
}

// ConsumerScope is the scope consumers see for a provider CRD of
// providerScope offered with the cluster-scoped isolation mode: the
// provider's own, except that Namespaced maps each consumer's
// cluster-scoped objects into its cluster namespace, so its CRD must be
// namespaced on the provider and is cluster-scoped for consumers.
func ConsumerScope(mode kubebindv1alpha1.Isolation, providerScope apiextensionsv1.ResourceScope) (apiextensionsv1.ResourceScope, error) {
	s, ok := strategies[mode]
	if !ok {
		return "", fmt.Errorf("cluster-scoped isolation %q is not supported; supported are %v", mode, Modes())
	}
	if s.ProviderScope() == apiextensionsv1.NamespaceScoped {
		if providerScope != apiextensionsv1.NamespaceScoped {
			return "", fmt.Errorf("%s isolation maps each consumer's cluster-scoped objects into its namespace, "+
				"so the CRD must be namespaced on the provider, and it is cluster-scoped; use Prefixed or None isolation", mode)
		}
		return apiextensionsv1.ClusterScoped, nil
	}
	return providerScope, nil
}
