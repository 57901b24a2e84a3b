package rbacgrant

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
)

// The claimed Secrets and ConfigMaps of a service namespace. A claim that
// names its objects is granted by those names: a konnector reads (and,
// for a claim from the consumer, writes) them and nothing else of the
// kind, and watches each by name. A claim by reference or label selector
// is granted the kind in the namespace: RBAC cannot select by label, and a
// reference is a name the consumer's own objects hold, so the consumer
// chooses it anyway. Writing is confined further by ClaimCopyPolicy: a
// konnector writes only its own copies, and creates only the names its
// claims allow (ClaimableNames).

// claimGrant is what the claims of one kind need.
type claimGrant struct {
	// kindRead and kindWrite grant the kind in the namespace.
	kindRead, kindWrite bool
	// create grants create, which RBAC cannot limit by name.
	create bool
	// readNames and writeNames grant named objects.
	readNames, writeNames []string
}

// grantsOf sums the claims up per "group/resource".
func grantsOf(claims []binderyv1alpha1.PermissionClaim) map[string]*claimGrant {
	out := map[string]*claimGrant{}
	for _, c := range claims {
		key := c.Group + "/" + c.Resource
		g := out[key]
		if g == nil {
			g = &claimGrant{}
			out[key] = g
		}
		toProvider := c.Direction == binderyv1alpha1.ClaimConsumerToProvider
		named := len(c.Selector.Names) > 0
		switch {
		case named && toProvider:
			g.writeNames = append(g.writeNames, c.Selector.Names...)
			g.create = true
		case named:
			g.readNames = append(g.readNames, c.Selector.Names...)
		case toProvider:
			g.kindRead, g.kindWrite, g.create = true, true, true
		default:
			g.kindRead = true
		}
	}
	return out
}

// ClaimRules are the rules the permission claims of a service namespace's
// exports need there, as narrow as each claim allows.
func ClaimRules(claims []binderyv1alpha1.PermissionClaim) []rbacv1.PolicyRule {
	grants := grantsOf(claims)
	keys := make([]string, 0, len(grants))
	for k := range grants {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var rules []rbacv1.PolicyRule
	for _, k := range keys {
		g := grants[k]
		group, resource := splitKey(k)
		rule := func(verbs []string, names []string) {
			rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{group}, Resources: []string{resource}, ResourceNames: names, Verbs: verbs})
		}
		if g.kindWrite {
			rule(writeVerbs, nil)
			continue
		}
		if g.kindRead {
			rule(readVerbs, nil)
		}
		if g.create {
			rule([]string{"create"}, nil)
		}
		writeNames := uniqueSorted(g.writeNames)
		if len(writeNames) > 0 {
			verbs := []string{"update", "patch", "delete"}
			if !g.kindRead {
				verbs = append(append([]string(nil), readVerbs...), verbs...)
			}
			rule(verbs, writeNames)
		}
		var readNames []string
		for _, n := range uniqueSorted(g.readNames) {
			if !slices.Contains(writeNames, n) {
				readNames = append(readNames, n)
			}
		}
		if len(readNames) > 0 && !g.kindRead {
			rule(readVerbs, readNames)
		}
	}
	return rules
}

// ClaimableNamesAnnotation, on a service namespace, lists what a konnector
// may create there for its claims: "<resource>/<name>", or
// "<resource>/*" where a claim does not name its objects. ClaimCopyPolicy
// reads it.
const ClaimableNamesAnnotation = "bindery.dev/claimable-names"

// ClaimableNames is the value of ClaimableNamesAnnotation for the claims
// of a service namespace's exports; empty when no claim copies anything
// to the provider.
func ClaimableNames(claims []binderyv1alpha1.PermissionClaim) string {
	var out []string
	for _, c := range claims {
		if c.Direction != binderyv1alpha1.ClaimConsumerToProvider || c.Group != "" {
			continue
		}
		if len(c.Selector.Names) == 0 {
			out = append(out, c.Resource+"/*")
			continue
		}
		for _, n := range c.Selector.Names {
			out = append(out, c.Resource+"/"+n)
		}
	}
	return strings.Join(uniqueSorted(out), ",")
}

// NameLister returns the names of the objects of a claimed resource
// ("secrets", "configmaps") in the service namespace whose labels sel
// matches.
type NameLister func(resource string, sel labels.Selector) ([]string, error)

// SelectByLabels turns each provider-to-consumer claim by label selector
// into a claim of the names it selects now, so that ClaimRules grants them
// by name; a claim that selects nothing grants nothing. It returns the
// claims and what they select ("<resource>/<name>", sorted), and whether
// any claim selects by label (then contract.SelectedNamesAnnotation is
// set, also when empty). Claims from the consumer keep their kind grant: their
// copies are the consumer's, confined by ClaimCopyPolicy.
func SelectByLabels(claims []binderyv1alpha1.PermissionClaim, list NameLister) (out []binderyv1alpha1.PermissionClaim, selected []string, byLabel bool, err error) {
	for _, c := range claims {
		if c.Selector.LabelSelector == nil || c.Direction == binderyv1alpha1.ClaimConsumerToProvider {
			out = append(out, c)
			continue
		}
		byLabel = true
		sel, err := metav1.LabelSelectorAsSelector(c.Selector.LabelSelector)
		if err != nil {
			return nil, nil, false, fmt.Errorf("the label selector of a %s claim: %w", c.Resource, err)
		}
		names, err := list(c.Resource, sel)
		if err != nil {
			return nil, nil, false, err
		}
		if len(names) == 0 {
			continue
		}
		named := *c.DeepCopy()
		named.Selector = binderyv1alpha1.ClaimSelector{Names: names}
		out = append(out, named)
		for _, n := range names {
			selected = append(selected, c.Resource+"/"+n)
		}
	}
	return out, uniqueSorted(selected), byLabel, nil
}
