package isolation

import (
	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/types"
)

// namespaced maps a consumer's cluster-scoped objects into its cluster
// namespace on the provider, under their own names; the provider's CRD is
// namespaced (see ConsumerScope). A Role in the cluster namespace grants
// them, and no admission policy is needed.
type namespaced struct{}

func (namespaced) Mode() kubebindv1alpha1.Isolation { return kubebindv1alpha1.IsolationNamespaced }

func (namespaced) ProviderScope() apiextensionsv1.ResourceScope {
	return apiextensionsv1.NamespaceScoped
}

func (namespaced) ToProvider(c Consumer, key types.NamespacedName) (types.NamespacedName, error) {
	return types.NamespacedName{Namespace: c.ClusterNamespace, Name: key.Name}, nil
}

func (namespaced) ToConsumer(c Consumer, key types.NamespacedName) (types.NamespacedName, bool) {
	return types.NamespacedName{Name: key.Name}, key.Namespace == c.ClusterNamespace
}

func (namespaced) CopyLabels(Consumer) map[string]string { return nil }

func (namespaced) Grant() Grant { return Grant{Scope: InClusterNamespace} }
