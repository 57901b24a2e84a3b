package isolation

import (
	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/types"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
)

// none keeps cluster-scoped copies cluster-scoped under the consumer's own
// names, labelled with the cluster namespace: consumers share one name
// space, and the first to take a name keeps it. The admission policy checks
// the label, so nobody writes another consumer's copy.
type none struct{}

func (none) Mode() kubebindv1alpha1.Isolation { return kubebindv1alpha1.IsolationNone }

func (none) ProviderScope() apiextensionsv1.ResourceScope { return apiextensionsv1.ClusterScoped }

func (none) ToProvider(_ Consumer, key types.NamespacedName) (types.NamespacedName, error) {
	return types.NamespacedName{Name: key.Name}, nil
}

func (none) ToConsumer(_ Consumer, key types.NamespacedName) (types.NamespacedName, bool) {
	return types.NamespacedName{Name: key.Name}, key.Namespace == ""
}

func (none) CopyLabels(c Consumer) map[string]string {
	return map[string]string{binderyv1alpha1.ClusterNamespaceLabel: c.ClusterNamespace}
}

func (none) Grant() Grant { return Grant{Scope: ByName, Admitted: true} }
