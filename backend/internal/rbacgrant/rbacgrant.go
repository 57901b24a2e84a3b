// Package rbacgrant computes the RBAC a consumer's konnector gets on the
// control plane. Every rule is scoped to the consumer's own namespaces or
// to named objects; there are no wildcards, and nothing grants access to
// another consumer's namespaces.
package rbacgrant

import (
	"sort"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	rbacv1 "k8s.io/api/rbac/v1"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
)

const (
	// KonnectorRoleName names the Role (in the cluster namespace) and the
	// Role in each service namespace that the consumer's ServiceAccount
	// is bound to.
	KonnectorRoleName = "bindery-konnector"
)

var (
	readVerbs  = []string{"get", "list", "watch"}
	writeVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete"}
)

// ClusterNamespaceRules are what a konnector needs on the kube-bind objects
// in its own cluster namespace: its ClusterBinding (heartbeat in status),
// the APIServiceExports (read, and their status), the requests the CLI
// creates, and the APIServiceNamespaces it creates for consumer
// namespaces. No Events: neither Bindery's nor kube-bind's konnector
// records any on the provider, and a ResourceQuota cannot bound them.
// kubeconfigSecret is the Secret holding its own kubeconfig,
// which it reads to pick up rotated credentials. kube-bind's konnector
// watches the namespace's Secrets with an informer, which needs list, and
// list cannot be limited by name; the cluster namespace holds no other
// Secret, so the grant reveals nothing more.
func ClusterNamespaceRules(kubeconfigSecret string) []rbacv1.PolicyRule {
	g := kubebindv1alpha1.GroupName
	rules := []rbacv1.PolicyRule{
		{APIGroups: []string{g}, Resources: []string{"clusterbindings"}, Verbs: readVerbs},
		{APIGroups: []string{g}, Resources: []string{"clusterbindings/status"}, Verbs: []string{"get", "update", "patch"}},
		{APIGroups: []string{g}, Resources: []string{"apiserviceexports"}, Verbs: readVerbs},
		{APIGroups: []string{g}, Resources: []string{"apiserviceexports/status"}, Verbs: []string{"get", "update", "patch"}},
		{APIGroups: []string{g}, Resources: []string{"apiserviceexportrequests"}, Verbs: []string{"get", "list", "watch", "create", "delete"}},
		{APIGroups: []string{g}, Resources: []string{"apiservicenamespaces"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
	}
	if kubeconfigSecret != "" {
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: readVerbs})
	}
	return rules
}

// NamespaceReadRules let a konnector read its own namespaces' objects by
// name (upstream konnectors get the cluster namespace to learn its UID).
// They go into a per-consumer ClusterRole, since namespaces are
// cluster-scoped, restricted by resourceNames.
func NamespaceReadRules(namespaces ...string) []rbacv1.PolicyRule {
	names := append([]string(nil), namespaces...)
	sort.Strings(names)
	return []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, ResourceNames: names, Verbs: []string{"get"}}}
}

// Export is what a service namespace grant needs to know of one export.
type Export struct {
	Group    string
	Resource string
	Claims   []binderyv1alpha1.PermissionClaim
	// Version and Kind read its objects, to find what a claim by
	// reference selects.
	Version, Kind string
	// Namespaced says that the resource is namespaced, so that its
	// objects live in the service namespaces.
	Namespaced bool
	// MaxObjects bounds the consumer's objects of the resource in one
	// namespace; 0 means no bound.
	MaxObjects int
}

// ServiceNamespaceRules are the rules in one service namespace: full use of
// the exported resources and their status, and the claimed Secrets and
// ConfigMaps (ClaimRules).
func ServiceNamespaceRules(exports []Export) []rbacv1.PolicyRule {
	byGroup := map[string][]string{}
	var claims []binderyv1alpha1.PermissionClaim
	for _, e := range exports {
		byGroup[e.Group] = append(byGroup[e.Group], e.Resource)
		claims = append(claims, e.Claims...)
	}
	var rules []rbacv1.PolicyRule
	groups := make([]string, 0, len(byGroup))
	for g := range byGroup {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	for _, g := range groups {
		resources := uniqueSorted(byGroup[g])
		status := make([]string, 0, len(resources))
		for _, r := range resources {
			status = append(status, r+"/status")
		}
		rules = append(rules,
			rbacv1.PolicyRule{APIGroups: []string{g}, Resources: resources, Verbs: writeVerbs},
			rbacv1.PolicyRule{APIGroups: []string{g}, Resources: status, Verbs: []string{"get", "update", "patch"}},
		)
	}
	return append(rules, ClaimRules(claims)...)
}

func splitKey(k string) (string, string) {
	for i := 0; i < len(k); i++ {
		if k[i] == '/' {
			return k[:i], k[i+1:]
		}
	}
	return "", k
}

func uniqueSorted(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// HasWildcard reports whether any rule uses "*" in groups, resources or
// verbs. Bindery never grants such rules; tests assert it.
func HasWildcard(rules []rbacv1.PolicyRule) bool {
	for _, r := range rules {
		for _, list := range [][]string{r.APIGroups, r.Resources, r.Verbs} {
			for _, v := range list {
				if v == "*" {
					return true
				}
			}
		}
	}
	return false
}

// ClusterResource is one cluster-scoped exported resource and the names of
// the objects on the provider that belong to one consumer (those labelled
// with its cluster namespace).
type ClusterResource struct {
	Group    string
	Resource string
	Names    []string
	// Create grants create, once the admission policy is in force.
	Create bool
}

// ClusterObjectRules are a konnector's rules on cluster-scoped exported
// resources. RBAC cannot limit create by name, so create is granted on the
// resource; the admission policy (ClusterObjectPolicy) confines it to
// objects labelled with the consumer's cluster namespace and, under
// Prefixed isolation, named with its prefix; create is granted only once
// that policy is in force. Everything else (reading,
// watching, updating, deleting) is granted by name, on the objects the
// consumer owns only; a konnector watches each of them by name. Without
// names there is no such rule, since empty resourceNames would mean all.
func ClusterObjectRules(resources []ClusterResource) []rbacv1.PolicyRule {
	sorted := append([]ClusterResource(nil), resources...)
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].Group != sorted[j].Group {
			return sorted[i].Group < sorted[j].Group
		}
		return sorted[i].Resource < sorted[j].Resource
	})
	var rules []rbacv1.PolicyRule
	for _, r := range sorted {
		if r.Create {
			rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{r.Group}, Resources: []string{r.Resource}, Verbs: []string{"create"}})
		}
		if len(r.Names) == 0 {
			continue
		}
		names := uniqueSorted(append([]string(nil), r.Names...))
		rules = append(rules,
			rbacv1.PolicyRule{APIGroups: []string{r.Group}, Resources: []string{r.Resource}, ResourceNames: names, Verbs: []string{"get", "list", "watch", "update", "patch", "delete"}},
			rbacv1.PolicyRule{APIGroups: []string{r.Group}, Resources: []string{r.Resource + "/status"}, ResourceNames: names, Verbs: []string{"get", "update", "patch"}},
		)
	}
	return rules
}
