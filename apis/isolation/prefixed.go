package isolation

import (
	"fmt"
	"strings"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/types"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/providername"
)

// prefixed keeps cluster-scoped copies cluster-scoped, named
// "<cluster namespace>-<name>" as kube-bind names them, and labelled with
// the cluster namespace. The admission policy checks both, so a konnector
// can neither take nor shadow another consumer's names.
type prefixed struct{}

func (prefixed) Mode() kubebindv1alpha1.Isolation { return kubebindv1alpha1.IsolationPrefixed }

func (prefixed) ProviderScope() apiextensionsv1.ResourceScope { return apiextensionsv1.ClusterScoped }

func (prefixed) ToProvider(c Consumer, key types.NamespacedName) (types.NamespacedName, error) {
	name, ok := providername.PrefixedName(c.ClusterNamespace, key.Name)
	if !ok {
		return types.NamespacedName{}, fmt.Errorf("%w: %q becomes %d characters under Prefixed isolation, more than %d",
			ErrNameTooLong, key.Name, len(name), providername.MaxObjectNameLength)
	}
	return types.NamespacedName{Name: name}, nil
}

func (prefixed) ToConsumer(c Consumer, key types.NamespacedName) (types.NamespacedName, bool) {
	name, ok := strings.CutPrefix(key.Name, c.ClusterNamespace+"-")
	return types.NamespacedName{Name: name}, ok && key.Namespace == "" && name != ""
}

func (prefixed) CopyLabels(c Consumer) map[string]string {
	return map[string]string{binderyv1alpha1.ClusterNamespaceLabel: c.ClusterNamespace}
}

func (prefixed) Grant() Grant { return Grant{Scope: ByName, Admitted: true, Prefixed: true} }
