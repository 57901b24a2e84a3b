package rbacgrant

import (
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/contract"
)

func TestServiceNamespaceRules(t *testing.T) {
	rules := ServiceNamespaceRules([]Export{
		{Group: "db.example.com", Resource: "databases", Claims: []binderyv1alpha1.PermissionClaim{
			{Resource: "secrets", Direction: binderyv1alpha1.ClaimProviderToConsumer, Selector: binderyv1alpha1.ClaimSelector{Names: []string{"conn"}}},
			{Resource: "configmaps", Direction: binderyv1alpha1.ClaimConsumerToProvider, Selector: binderyv1alpha1.ClaimSelector{Names: []string{"settings"}}},
		}},
		{Group: "db.example.com", Resource: "backups"},
		{Group: "cache.example.com", Resource: "caches"},
	})
	assert.Equal(t, []rbacv1.PolicyRule{
		{APIGroups: []string{"cache.example.com"}, Resources: []string{"caches"}, Verbs: writeVerbs},
		{APIGroups: []string{"cache.example.com"}, Resources: []string{"caches/status"}, Verbs: []string{"get", "update", "patch"}},
		{APIGroups: []string{"db.example.com"}, Resources: []string{"backups", "databases"}, Verbs: writeVerbs},
		{APIGroups: []string{"db.example.com"}, Resources: []string{"backups/status", "databases/status"}, Verbs: []string{"get", "update", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"create"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"settings"}, Verbs: []string{"get", "list", "watch", "update", "patch", "delete"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"conn"}, Verbs: readVerbs},
	}, rules)
	assert.False(t, HasWildcard(rules))
}

func TestNoWildcards(t *testing.T) {
	assert.False(t, HasWildcard(ClusterNamespaceRules("kubeconfig")))
	assert.False(t, HasWildcard(NamespaceReadRules("a", "b")))
	assert.True(t, HasWildcard([]rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"x"}, Verbs: []string{"get"}}}))
	for _, r := range NamespaceReadRules("b", "a") {
		assert.Equal(t, []string{"a", "b"}, r.ResourceNames, "namespace reads are limited to the consumer's namespaces")
	}
}

func TestClusterObjectRules(t *testing.T) {
	tests := []struct {
		name string
		in   []ClusterResource
		want []rbacv1.PolicyRule
	}{
		{name: "nothing yet: no rule, since empty resourceNames would mean all", in: []ClusterResource{{Group: "geo.example.com", Resource: "regions"}}},
		{
			name: "create before any object",
			in:   []ClusterResource{{Group: "geo.example.com", Resource: "regions", Create: true}},
			want: []rbacv1.PolicyRule{{APIGroups: []string{"geo.example.com"}, Resources: []string{"regions"}, Verbs: []string{"create"}}},
		},
		{
			name: "objects by name, sorted and unique",
			in:   []ClusterResource{{Group: "geo.example.com", Resource: "regions", Names: []string{"b", "a", "b"}}},
			want: []rbacv1.PolicyRule{
				{APIGroups: []string{"geo.example.com"}, Resources: []string{"regions"}, ResourceNames: []string{"a", "b"}, Verbs: []string{"get", "list", "watch", "update", "patch", "delete"}},
				{APIGroups: []string{"geo.example.com"}, Resources: []string{"regions/status"}, ResourceNames: []string{"a", "b"}, Verbs: []string{"get", "update", "patch"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ClusterObjectRules(tt.in)
			assert.Equal(t, tt.want, got)
			assert.False(t, HasWildcard(got))
		})
	}
}

func TestClusterObjectPolicy(t *testing.T) {
	p, b := ClusterObjectPolicy("owner", nil)
	assert.Nil(t, p, "no cluster-scoped resource, no policy")
	assert.Nil(t, b)

	p, b = ClusterObjectPolicy("owner", []PolicyResource{
		{Group: "geo.example.com", Resource: "zones", Versions: []string{"v1"}},
		{Group: "geo.example.com", Resource: "regions", Versions: []string{"v2", "v1"}, Prefixed: true},
	})
	if assert.Len(t, p.Spec.MatchConstraints.ResourceRules, 2) {
		assert.Equal(t, []string{"regions"}, p.Spec.MatchConstraints.ResourceRules[0].Resources)
		assert.Equal(t, []string{"v1", "v2"}, p.Spec.MatchConstraints.ResourceRules[0].APIVersions)
	}
	assert.Contains(t, p.Spec.Variables[1].Expression, `"geo.example.com/zones"`, "zones keep their names")
	assert.NotContains(t, p.Spec.Variables[1].Expression, "regions")
	assert.Equal(t, ClusterObjectPolicyName, b.Spec.PolicyName)
}

func TestClaimRules(t *testing.T) {
	named := func(resource string, dir binderyv1alpha1.ClaimDirection, names ...string) binderyv1alpha1.PermissionClaim {
		return binderyv1alpha1.PermissionClaim{Resource: resource, Direction: dir, Selector: binderyv1alpha1.ClaimSelector{Names: names}}
	}
	byLabel := func(dir binderyv1alpha1.ClaimDirection) binderyv1alpha1.PermissionClaim {
		return binderyv1alpha1.PermissionClaim{Resource: "secrets", Direction: dir,
			Selector: binderyv1alpha1.ClaimSelector{LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}}}
	}
	byRef := func(dir binderyv1alpha1.ClaimDirection) binderyv1alpha1.PermissionClaim {
		return binderyv1alpha1.PermissionClaim{Resource: "secrets", Direction: dir,
			Selector: binderyv1alpha1.ClaimSelector{Reference: &binderyv1alpha1.ClaimReference{NamePath: "spec.secretRef.name"}}}
	}
	toConsumer, toProvider := binderyv1alpha1.ClaimProviderToConsumer, binderyv1alpha1.ClaimConsumerToProvider
	secrets := func(verbs []string, names ...string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: names, Verbs: verbs}
	}
	namedWrite := []string{"get", "list", "watch", "update", "patch", "delete"}
	tests := []struct {
		name      string
		claims    []binderyv1alpha1.PermissionClaim
		want      []rbacv1.PolicyRule
		claimable string
	}{
		{name: "named, to the consumer: read by name only", claims: []binderyv1alpha1.PermissionClaim{named("secrets", toConsumer, "b", "a", "b")},
			want: []rbacv1.PolicyRule{secrets(readVerbs, "a", "b")}},
		{name: "named, to the provider: create, and the rest by name", claims: []binderyv1alpha1.PermissionClaim{named("secrets", toProvider, "ca")},
			want: []rbacv1.PolicyRule{secrets([]string{"create"}), secrets(namedWrite, "ca")}, claimable: "secrets/ca"},
		{name: "both ways by name: a name in both is written", claims: []binderyv1alpha1.PermissionClaim{named("secrets", toConsumer, "conn", "ca"), named("secrets", toProvider, "ca")},
			want: []rbacv1.PolicyRule{secrets([]string{"create"}), secrets(namedWrite, "ca"), secrets(readVerbs, "conn")}, claimable: "secrets/ca"},
		{name: "unresolved, by label or reference, to the consumer: nothing to read", claims: []binderyv1alpha1.PermissionClaim{byLabel(toConsumer), byRef(toConsumer)}},
		{name: "by label, to the provider: writes the kind; a named claim reads by name", claims: []binderyv1alpha1.PermissionClaim{byLabel(toProvider), named("secrets", toProvider, "ca")},
			want: []rbacv1.PolicyRule{secrets(kindWriteVerbs), secrets(readVerbs, "ca")}, claimable: "secrets/*,secrets/ca"},
		{name: "by reference, to the provider: create, confined to the names it resolves to", claims: []binderyv1alpha1.PermissionClaim{byRef(toProvider)},
			want: []rbacv1.PolicyRule{secrets([]string{"create"})}},
		{name: "kinds apart, sorted", claims: []binderyv1alpha1.PermissionClaim{named("secrets", toConsumer, "s"), named("configmaps", toConsumer, "c")},
			want: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"c"}, Verbs: readVerbs},
				secrets(readVerbs, "s"),
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ClaimRules(tt.claims)
			assert.Equal(t, tt.want, got)
			assert.False(t, HasWildcard(got))
			assert.Equal(t, tt.claimable, ClaimableNames(tt.claims))
		})
	}
}

func TestSelectClaimed(t *testing.T) {
	byLabel := func(resource string, dir binderyv1alpha1.ClaimDirection, app string) binderyv1alpha1.PermissionClaim {
		return binderyv1alpha1.PermissionClaim{Resource: resource, Direction: dir,
			Selector: binderyv1alpha1.ClaimSelector{LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}}}
	}
	byRef := func(dir binderyv1alpha1.ClaimDirection, path string, holder *binderyv1alpha1.GroupResource) binderyv1alpha1.PermissionClaim {
		return binderyv1alpha1.PermissionClaim{Resource: "secrets", Direction: dir,
			Selector: binderyv1alpha1.ClaimSelector{Reference: &binderyv1alpha1.ClaimReference{NamePath: path, Resource: holder}}}
	}
	named := func(resource string, names ...string) binderyv1alpha1.PermissionClaim {
		return binderyv1alpha1.PermissionClaim{Resource: resource, Direction: binderyv1alpha1.ClaimProviderToConsumer, Selector: binderyv1alpha1.ClaimSelector{Names: names}}
	}
	toConsumer, toProvider := binderyv1alpha1.ClaimProviderToConsumer, binderyv1alpha1.ClaimConsumerToProvider
	objects := fakeObjects{
		// The service namespace: claimable objects by resource, with
		// their labels.
		labelled: map[string]map[string]labels.Set{
			"secrets": {"conn-a": {"app": "db"}, "conn-b": {"app": "db"}, "internal": {"app": "operator"},
				"copy": {"app": "settings", binderyv1alpha1.ClaimedByLabel: "databases"}, "providers-settings": {"app": "settings"}},
			"configmaps": {"settings": {"app": "db"}},
		},
		// What the databases there hold at each path.
		referenced: map[string][]string{
			"db.example.com/databases/spec.connectionSecretRef.name/":               {"orders-conn"},
			"db.example.com/databases/spec.caRef.name/":                             {"orders-ca"},
			"db.example.com/databases/spec.sharedRef.name/spec.sharedRef.namespace": {"shared-conn"},
		},
	}
	secrets := func(verbs []string, names ...string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: names, Verbs: verbs}
	}
	tests := []struct {
		name      string
		claims    []binderyv1alpha1.PermissionClaim
		rules     []rbacv1.PolicyRule
		selected  []string
		selects   bool
		claimable string
	}{
		{name: "no claim that selects: nothing to select", claims: []binderyv1alpha1.PermissionClaim{named("secrets", "x")},
			rules: []rbacv1.PolicyRule{secrets(readVerbs, "x")}},
		{name: "by label from the provider: granted what it selects, by name", claims: []binderyv1alpha1.PermissionClaim{byLabel("secrets", toConsumer, "db")},
			rules: []rbacv1.PolicyRule{secrets(readVerbs, "conn-a", "conn-b")}, selected: []string{"secrets/conn-a", "secrets/conn-b"}, selects: true},
		{name: "selecting nothing grants nothing", claims: []binderyv1alpha1.PermissionClaim{byLabel("secrets", toConsumer, "none")},
			selects: true},
		{name: "with a claim by name of the kind", claims: []binderyv1alpha1.PermissionClaim{byLabel("secrets", toConsumer, "db"), named("secrets", "x"), byLabel("configmaps", toConsumer, "db")},
			rules: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"settings"}, Verbs: readVerbs},
				secrets(readVerbs, "conn-a", "conn-b", "x"),
			}, selected: []string{"configmaps/settings", "secrets/conn-a", "secrets/conn-b"}, selects: true},
		{name: "by label from the consumer: writes the kind (confined by the policy), reads its copies by name", claims: []binderyv1alpha1.PermissionClaim{byLabel("secrets", toProvider, "settings")},
			rules: []rbacv1.PolicyRule{secrets(kindWriteVerbs), secrets(readVerbs, "copy")}, selected: []string{"secrets/copy"}, selects: true, claimable: "secrets/*"},
		{name: "by label from the consumer, before its first copy: writes, reads nothing", claims: []binderyv1alpha1.PermissionClaim{byLabel("secrets", toProvider, "none")},
			rules: []rbacv1.PolicyRule{secrets(kindWriteVerbs)}, selects: true, claimable: "secrets/*"},
		{name: "both ways by label", claims: []binderyv1alpha1.PermissionClaim{byLabel("secrets", toProvider, "settings"), byLabel("secrets", toConsumer, "db")},
			rules:    []rbacv1.PolicyRule{secrets(kindWriteVerbs), secrets(readVerbs, "conn-a", "conn-b", "copy")},
			selected: []string{"secrets/conn-a", "secrets/conn-b", "secrets/copy"}, selects: true, claimable: "secrets/*"},
		{name: "by reference from the provider: what the objects hold, read by name", claims: []binderyv1alpha1.PermissionClaim{byRef(toConsumer, "spec.connectionSecretRef.name", nil)},
			rules: []rbacv1.PolicyRule{secrets(readVerbs, "orders-conn")}, selected: []string{"secrets/orders-conn"}, selects: true},
		{name: "by reference from the consumer: created and written by name", claims: []binderyv1alpha1.PermissionClaim{byRef(toProvider, "spec.caRef.name", nil)},
			rules:    []rbacv1.PolicyRule{secrets([]string{"create"}), secrets([]string{"get", "list", "watch", "update", "patch", "delete"}, "orders-ca")},
			selected: []string{"secrets/orders-ca"}, selects: true, claimable: "secrets/orders-ca"},
		{name: "by reference from the consumer, before any object holds one: nothing to create", claims: []binderyv1alpha1.PermissionClaim{byRef(toProvider, "spec.none", nil)},
			rules: []rbacv1.PolicyRule{secrets([]string{"create"})}, selects: true},
		{name: "by reference another resource holds: nothing here", claims: []binderyv1alpha1.PermissionClaim{
			byRef(toConsumer, "spec.connectionSecretRef.name", &binderyv1alpha1.GroupResource{Group: "db.example.com", Resource: "backups"})},
			selects: true},
		{name: "by reference to a namespace: what points here, by name", claims: []binderyv1alpha1.PermissionClaim{{Resource: "secrets", Direction: toConsumer,
			Selector: binderyv1alpha1.ClaimSelector{Reference: &binderyv1alpha1.ClaimReference{NamePath: "spec.sharedRef.name", NamespacePath: "spec.sharedRef.namespace"}}}},
			rules: []rbacv1.PolicyRule{secrets(readVerbs, "shared-conn")}, selected: []string{"secrets/shared-conn"}, selects: true},
		{name: "by reference, the holder named", claims: []binderyv1alpha1.PermissionClaim{
			byRef(toConsumer, "spec.connectionSecretRef.name", &binderyv1alpha1.GroupResource{Group: "db.example.com", Resource: "databases"})},
			rules: []rbacv1.PolicyRule{secrets(readVerbs, "orders-conn")}, selected: []string{"secrets/orders-conn"}, selects: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims, selected, selects, err := SelectClaimed(Export{Group: "db.example.com", Resource: "databases", Claims: tt.claims}, objects)
			require.NoError(t, err)
			rules := ClaimRules(claims)
			assert.Equal(t, tt.rules, rules)
			assert.False(t, HasWildcard(rules))
			assert.Equal(t, tt.selected, selected)
			assert.Equal(t, tt.selects, selects)
			assert.Equal(t, tt.claimable, ClaimableNames(claims))
			annotations := map[string]string{}
			if selects {
				annotations[contract.SelectedNamesAnnotation] = contract.JoinSelected(selected)
			}
			names, set := contract.SelectedNames(annotations, "secrets")
			assert.Equal(t, tt.selects, set)
			for _, n := range names {
				assert.Contains(t, selected, "secrets/"+n)
			}
		})
	}
}

// fakeObjects are the objects of a service namespace, for SelectClaimed.
type fakeObjects struct {
	labelled   map[string]map[string]labels.Set
	referenced map[string][]string
}

func (f fakeObjects) Labelled(resource string, sel labels.Selector) ([]string, error) {
	var out []string
	for name, l := range f.labelled[resource] {
		if sel.Matches(l) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

func (f fakeObjects) Referenced(group, resource string, ref binderyv1alpha1.ClaimReference) ([]string, error) {
	return f.referenced[group+"/"+resource+"/"+ref.NamePath+"/"+ref.NamespacePath], nil
}
