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
