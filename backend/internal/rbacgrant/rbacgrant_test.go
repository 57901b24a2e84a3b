package rbacgrant

import (
	"testing"

	"github.com/stretchr/testify/assert"
	rbacv1 "k8s.io/api/rbac/v1"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
)

func TestServiceNamespaceRules(t *testing.T) {
	rules := ServiceNamespaceRules([]Export{
		{Group: "db.example.com", Resource: "databases", Claims: []binderyv1alpha1.PermissionClaim{
			{Resource: "secrets", Direction: binderyv1alpha1.ClaimProviderToConsumer},
			{Resource: "configmaps", Direction: binderyv1alpha1.ClaimConsumerToProvider},
		}},
		{Group: "db.example.com", Resource: "backups"},
		{Group: "cache.example.com", Resource: "caches"},
	})
	assert.Equal(t, []rbacv1.PolicyRule{
		{APIGroups: []string{"cache.example.com"}, Resources: []string{"caches"}, Verbs: writeVerbs},
		{APIGroups: []string{"cache.example.com"}, Resources: []string{"caches/status"}, Verbs: []string{"get", "update", "patch"}},
		{APIGroups: []string{"db.example.com"}, Resources: []string{"backups", "databases"}, Verbs: writeVerbs},
		{APIGroups: []string{"db.example.com"}, Resources: []string{"backups/status", "databases/status"}, Verbs: []string{"get", "update", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: writeVerbs},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: readVerbs},
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
