package rbacgrant

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/contract"
)

// The claimed Secrets and ConfigMaps of a service namespace, granted as
// narrowly as RBAC allows:
//
//   - A claim that names its objects is granted those names: a konnector
//     reads (and, for a claim from the consumer, writes) them and nothing
//     else of the kind, and watches each by name.
//   - A claim by label selector or by reference is granted by name too,
//     what it selects now (SelectClaimed): the objects whose labels match
//     (from the consumer: the konnector's copies among them), or the
//     names the bound objects hold. A claim from the consumer by label
//     selector also writes the kind, since the names of its copies are
//     the consumer's to choose.
//
// Writing is confined further by ClaimCopyPolicy: a konnector writes only
// its own copies, and creates only the names its claims allow
// (ClaimableNames). RBAC cannot limit create by name.

// claimGrant is what the claims of one kind need.
type claimGrant struct {
	// writeKind grants create, update, patch and delete on the kind in
	// the namespace; create grants create alone. RBAC cannot limit create
	// by name.
	writeKind, create bool
	// readNames and writeNames grant named objects.
	readNames, writeNames []string
}

// grantsOf sums the claims up per "group/resource". No claim reads the
// kind: the claims that select (contract.Selects) must have been resolved
// by SelectClaimed into claims by name.
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
		switch sel := c.Selector; {
		case len(sel.Names) > 0 && toProvider:
			g.writeNames = append(g.writeNames, sel.Names...)
			g.create = true
		case len(sel.Names) > 0:
			g.readNames = append(g.readNames, sel.Names...)
		case sel.LabelSelector != nil && toProvider:
			// Its copies' names are the consumer's to choose.
			g.writeKind, g.create = true, true
		case toProvider:
			g.create = true
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
		switch {
		case g.writeKind:
			rule(kindWriteVerbs, nil)
		case g.create:
			rule([]string{"create"}, nil)
		}
		writeNames := uniqueSorted(g.writeNames)
		if len(writeNames) > 0 {
			verbs := append([]string(nil), readVerbs...)
			if !g.writeKind {
				verbs = append(verbs, "update", "patch", "delete")
			}
			rule(verbs, writeNames)
		}
		var readNames []string
		for _, n := range uniqueSorted(g.readNames) {
			if !slices.Contains(writeNames, n) {
				readNames = append(readNames, n)
			}
		}
		if len(readNames) > 0 {
			rule(readVerbs, readNames)
		}
	}
	return rules
}

// kindWriteVerbs write objects of a kind, without reading them.
var kindWriteVerbs = []string{"create", "update", "patch", "delete"}

// ClaimableNamesAnnotation, on a service namespace, lists what a konnector
// may create there for its claims: "<resource>/<name>", or
// "<resource>/*" for a claim by label selector, whose copies the consumer
// names. ClaimCopyPolicy reads it.
const ClaimableNamesAnnotation = "bindery.dev/claimable-names"

// ClaimableNames is the value of ClaimableNamesAnnotation for the claims
// of a service namespace's exports, resolved by SelectClaimed; empty when
// no claim copies anything to the provider.
func ClaimableNames(claims []binderyv1alpha1.PermissionClaim) string {
	var out []string
	for _, c := range claims {
		if c.Direction != binderyv1alpha1.ClaimConsumerToProvider || c.Group != "" {
			continue
		}
		if len(c.Selector.Names) == 0 {
			if c.Selector.Reference == nil {
				out = append(out, c.Resource+"/*")
			} // else SelectClaimed named what it references
			continue
		}
		for _, n := range c.Selector.Names {
			out = append(out, c.Resource+"/"+n)
		}
	}
	return strings.Join(uniqueSorted(out), ",")
}

// Objects answers what claims select in a service namespace now.
type Objects interface {
	// Labelled returns the names of the objects of a claimed resource
	// ("secrets", "configmaps") whose labels sel matches.
	Labelled(resource string, sel labels.Selector) ([]string, error)
	// Referenced returns the names the objects of an exported resource
	// hold at a reference's dotted path, for objects in this namespace:
	// where the reference names a namespace too, those the consumer's
	// objects in any namespace point here.
	Referenced(group, resource string, ref binderyv1alpha1.ClaimReference) ([]string, error)
}

// SelectClaimed resolves the claims that select (contract.Selects) into
// claims of the names they select now, so that ClaimRules grants those by
// name:
//   - by label selector, from the provider: the objects whose labels
//     match;
//   - by label selector, from the consumer: the konnector's copies among
//     them (labelled binderyv1alpha1.ClaimedByLabel), read by name; it
//     writes the kind;
//   - by reference: the names the export's objects hold for this
//     namespace, read by name and, from the consumer, written and created
//     by name.
//
// A claim that selects nothing grants nothing more. It returns the
// claims, what they select ("<resource>/<name>", sorted), and whether any
// claim selects (then contract.SelectedNamesAnnotation is set, also when
// empty).
func SelectClaimed(e Export, objects Objects) (out []binderyv1alpha1.PermissionClaim, selected []string, selects bool, err error) {
	copies, err := labels.NewRequirement(binderyv1alpha1.ClaimedByLabel, selection.Exists, nil)
	if err != nil {
		return nil, nil, false, err
	}
	for _, c := range e.Claims {
		if !contract.Selects(c) {
			out = append(out, c)
			continue
		}
		selects = true
		out = append(out, c) // what it grants besides reading (grantsOf)
		toProvider := c.Direction == binderyv1alpha1.ClaimConsumerToProvider
		var names []string
		switch ref := c.Selector.Reference; {
		case ref != nil:
			if !contract.HeldBy(*ref, e.Group, e.Resource) {
				continue // another export's objects hold it
			}
			if names, err = objects.Referenced(e.Group, e.Resource, *ref); err != nil {
				return nil, nil, false, err
			}
		default:
			sel, err := metav1.LabelSelectorAsSelector(c.Selector.LabelSelector)
			if err != nil {
				return nil, nil, false, fmt.Errorf("the label selector of a %s claim: %w", c.Resource, err)
			}
			if toProvider {
				sel = sel.Add(*copies)
			}
			if names, err = objects.Labelled(c.Resource, sel); err != nil {
				return nil, nil, false, err
			}
		}
		if len(names) == 0 {
			continue
		}
		// Read by name; a reference from the consumer is also written
		// and created by name (its copies' names are the references).
		named := binderyv1alpha1.PermissionClaim{Group: c.Group, Resource: c.Resource, Direction: binderyv1alpha1.ClaimProviderToConsumer,
			Selector: binderyv1alpha1.ClaimSelector{Names: names}}
		if toProvider && c.Selector.Reference != nil {
			named.Direction = c.Direction
		}
		out = append(out, named)
		for _, n := range names {
			selected = append(selected, contract.Selected(c.Resource, n))
		}
	}
	return out, uniqueSorted(selected), selects, nil
}
