package isolation

import (
	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/types"
)

// serviceNamespaced serves namespaced resources: the copy of an object in
// consumer namespace ns lives, under its own name, in the provider
// namespace the backend assigned ns (an APIServiceNamespace), which holds
// that consumer namespace's objects alone.
type serviceNamespaced struct{}

func (serviceNamespaced) Mode() kubebindv1alpha1.Isolation { return ServiceNamespaced }

func (serviceNamespaced) ProviderScope() apiextensionsv1.ResourceScope {
	return apiextensionsv1.NamespaceScoped
}

func (serviceNamespaced) ToProvider(c Consumer, key types.NamespacedName) (types.NamespacedName, error) {
	if c.ServiceNamespaces == nil {
		return types.NamespacedName{}, ErrNamespaceNotAssigned
	}
	pns, ok := c.ServiceNamespaces.ProviderNamespace(key.Namespace)
	if !ok {
		return types.NamespacedName{}, ErrNamespaceNotAssigned
	}
	return types.NamespacedName{Namespace: pns, Name: key.Name}, nil
}

func (serviceNamespaced) ToConsumer(c Consumer, key types.NamespacedName) (types.NamespacedName, bool) {
	if c.ServiceNamespaces == nil {
		return types.NamespacedName{}, false
	}
	ns, ok := c.ServiceNamespaces.ConsumerNamespace(key.Namespace)
	return types.NamespacedName{Namespace: ns, Name: key.Name}, ok
}

func (serviceNamespaced) CopyLabels(Consumer) map[string]string { return nil }

func (serviceNamespaced) Grant() Grant { return Grant{Scope: InServiceNamespace} }
