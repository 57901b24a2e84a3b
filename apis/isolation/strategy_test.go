package isolation

import (
	"errors"
	"strings"
	"testing"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/types"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
)

// namespaceMap is a Namespaces of fixed pairs, consumer to provider.
type namespaceMap map[string]string

func (m namespaceMap) ProviderNamespace(ns string) (string, bool) { pns, ok := m[ns]; return pns, ok }

func (m namespaceMap) ConsumerNamespace(pns string) (string, bool) {
	for ns, p := range m {
		if p == pns {
			return ns, true
		}
	}
	return "", false
}

func TestStrategies(t *testing.T) {
	c := Consumer{ClusterNamespace: "bindery-alice-x", ServiceNamespaces: namespaceMap{"default": "bindery-alice-x-default-y"}}
	label := map[string]string{binderyv1alpha1.ClusterNamespaceLabel: "bindery-alice-x"}
	for _, tc := range []struct {
		scope         apiextensionsv1.ResourceScope
		mode          kubebindv1alpha1.Isolation
		wantMode      kubebindv1alpha1.Isolation
		consumer      types.NamespacedName
		provider      types.NamespacedName
		providerScope apiextensionsv1.ResourceScope
		labels        map[string]string
		grant         Grant
	}{
		{
			scope: apiextensionsv1.NamespaceScoped, wantMode: ServiceNamespaced,
			consumer:      types.NamespacedName{Namespace: "default", Name: "db"},
			provider:      types.NamespacedName{Namespace: "bindery-alice-x-default-y", Name: "db"},
			providerScope: apiextensionsv1.NamespaceScoped, grant: Grant{Scope: InServiceNamespace},
		},
		{
			// The mode of a namespaced resource does not matter.
			scope: apiextensionsv1.NamespaceScoped, mode: kubebindv1alpha1.IsolationPrefixed, wantMode: ServiceNamespaced,
			consumer:      types.NamespacedName{Namespace: "default", Name: "db"},
			provider:      types.NamespacedName{Namespace: "bindery-alice-x-default-y", Name: "db"},
			providerScope: apiextensionsv1.NamespaceScoped, grant: Grant{Scope: InServiceNamespace},
		},
		{
			scope: apiextensionsv1.ClusterScoped, mode: kubebindv1alpha1.IsolationPrefixed, wantMode: kubebindv1alpha1.IsolationPrefixed,
			consumer: types.NamespacedName{Name: "db"}, provider: types.NamespacedName{Name: "bindery-alice-x-db"},
			providerScope: apiextensionsv1.ClusterScoped, labels: label, grant: Grant{Scope: ByName, Admitted: true, Prefixed: true},
		},
		{
			scope: apiextensionsv1.ClusterScoped, mode: kubebindv1alpha1.IsolationNone, wantMode: kubebindv1alpha1.IsolationNone,
			consumer: types.NamespacedName{Name: "db"}, provider: types.NamespacedName{Name: "db"},
			providerScope: apiextensionsv1.ClusterScoped, labels: label, grant: Grant{Scope: ByName, Admitted: true},
		},
		{
			scope: apiextensionsv1.ClusterScoped, mode: kubebindv1alpha1.IsolationNamespaced, wantMode: kubebindv1alpha1.IsolationNamespaced,
			consumer: types.NamespacedName{Name: "db"}, provider: types.NamespacedName{Namespace: "bindery-alice-x", Name: "db"},
			providerScope: apiextensionsv1.NamespaceScoped, grant: Grant{Scope: InClusterNamespace},
		},
	} {
		t.Run(string(tc.scope)+"/"+string(tc.mode), func(t *testing.T) {
			s, err := For(tc.scope, tc.mode)
			require.NoError(t, err)
			assert.Equal(t, tc.wantMode, s.Mode())
			assert.Equal(t, tc.providerScope, s.ProviderScope())
			got, err := s.ToProvider(c, tc.consumer)
			require.NoError(t, err)
			assert.Equal(t, tc.provider, got)
			back, ok := s.ToConsumer(c, got)
			assert.True(t, ok, "the provider key maps back")
			assert.Equal(t, tc.consumer, back)
			assert.Equal(t, tc.labels, s.CopyLabels(c))
			assert.Equal(t, tc.grant, s.Grant())
		})
	}
}

func TestStrategyRefusals(t *testing.T) {
	c := Consumer{ClusterNamespace: "bindery-alice-x", ServiceNamespaces: namespaceMap{}}

	_, err := For(apiextensionsv1.ClusterScoped, "")
	assert.ErrorContains(t, err, `isolation "" is not supported`)
	_, err = For(apiextensionsv1.ClusterScoped, "Shared")
	assert.ErrorContains(t, err, "supported are [Namespaced None Prefixed]")

	sn, _ := For(apiextensionsv1.NamespaceScoped, "")
	_, err = sn.ToProvider(c, types.NamespacedName{Namespace: "team-a", Name: "db"})
	assert.True(t, errors.Is(err, ErrNamespaceNotAssigned), "an unassigned namespace waits: %v", err)
	_, err = sn.ToProvider(Consumer{}, types.NamespacedName{Namespace: "team-a", Name: "db"})
	assert.True(t, errors.Is(err, ErrNamespaceNotAssigned), "no namespace map waits: %v", err)
	_, ok := sn.ToConsumer(c, types.NamespacedName{Namespace: "elsewhere", Name: "db"})
	assert.False(t, ok, "a provider namespace not the consumer's maps to nothing")

	p, _ := For(apiextensionsv1.ClusterScoped, kubebindv1alpha1.IsolationPrefixed)
	_, err = p.ToProvider(c, types.NamespacedName{Name: strings.Repeat("a", 250)})
	assert.True(t, errors.Is(err, ErrNameTooLong), "a prefixed name over 253 characters: %v", err)
	_, ok = p.ToConsumer(c, types.NamespacedName{Name: "bindery-bob-y-db"})
	assert.False(t, ok, "another consumer's prefix is not ours")

	n, _ := For(apiextensionsv1.ClusterScoped, kubebindv1alpha1.IsolationNamespaced)
	_, ok = n.ToConsumer(c, types.NamespacedName{Namespace: "bindery-bob-y", Name: "db"})
	assert.False(t, ok, "another cluster namespace is not ours")
}

func TestConsumerScope(t *testing.T) {
	for _, tc := range []struct {
		mode     kubebindv1alpha1.Isolation
		provider apiextensionsv1.ResourceScope
		want     apiextensionsv1.ResourceScope
		err      string
	}{
		{kubebindv1alpha1.IsolationPrefixed, apiextensionsv1.ClusterScoped, apiextensionsv1.ClusterScoped, ""},
		{kubebindv1alpha1.IsolationPrefixed, apiextensionsv1.NamespaceScoped, apiextensionsv1.NamespaceScoped, ""},
		{kubebindv1alpha1.IsolationNone, apiextensionsv1.ClusterScoped, apiextensionsv1.ClusterScoped, ""},
		{kubebindv1alpha1.IsolationNamespaced, apiextensionsv1.NamespaceScoped, apiextensionsv1.ClusterScoped, ""},
		{kubebindv1alpha1.IsolationNamespaced, apiextensionsv1.ClusterScoped, "", "must be namespaced on the provider"},
		{"Shared", apiextensionsv1.ClusterScoped, "", "not supported"},
	} {
		got, err := ConsumerScope(tc.mode, tc.provider)
		if tc.err != "" {
			assert.ErrorContains(t, err, tc.err, "%s on a %s CRD", tc.mode, tc.provider)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "%s on a %s CRD", tc.mode, tc.provider)
	}
}
