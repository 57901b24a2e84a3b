// Package contract encodes and decodes, in one place, the settings that
// travel between the backend, the konnector and the CLI beyond kube-bind's
// own fields: what an APIServiceExport carries in Bindery's annotations.
// Upstream kube-bind konnectors ignore them.
package contract

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
)

// ExportSettings are the Bindery settings of one APIServiceExport.
type ExportSettings struct {
	// Claims are the permission claims of the export's service: the
	// Secrets and ConfigMaps that travel with the bound objects.
	Claims []binderyv1alpha1.PermissionClaim
	// Namespaces, when not empty, are the only consumer namespaces the
	// service covers.
	Namespaces []string
	// MaxObjects, when set, bounds a consumer's objects of the resource
	// per namespace (0: no bound); unset, the backend's bound applies.
	MaxObjects *int32
}

// ReadExport decodes the settings from an export's annotations.
func ReadExport(annotations map[string]string) (ExportSettings, error) {
	var s ExportSettings
	var err error
	if s.Claims, err = readClaims(annotations, binderyv1alpha1.PermissionClaimsAnnotation); err != nil {
		return ExportSettings{}, err
	}
	s.Namespaces = SplitNamespaces(annotations[binderyv1alpha1.ConsumerNamespacesAnnotation])
	if raw, ok := annotations[binderyv1alpha1.MaxObjectsAnnotation]; ok {
		n, err := strconv.ParseInt(raw, 10, 32)
		if err != nil || n < 0 {
			return ExportSettings{}, fmt.Errorf("the %s annotation is %q, not a count of objects", binderyv1alpha1.MaxObjectsAnnotation, raw)
		}
		s.MaxObjects = ptr.To(int32(n))
	}
	return s, nil
}

// Bound is the bound on a consumer's objects of the resource per
// namespace: the service's own, else fallback; 0 means none.
func (s ExportSettings) Bound(fallback int) int {
	if s.MaxObjects != nil {
		return int(*s.MaxObjects)
	}
	return fallback
}

// SplitNamespaces parses a comma-separated list of namespaces, each once,
// in their order; nil when there is none.
func SplitNamespaces(raw string) []string {
	var out []string
	for _, ns := range strings.Split(raw, ",") {
		if ns = strings.TrimSpace(ns); ns != "" && !slices.Contains(out, ns) {
			out = append(out, ns)
		}
	}
	return out
}

// JoinNamespaces is the annotation value of a list of namespaces: sorted,
// each once, comma-separated.
func JoinNamespaces(namespaces []string) string {
	sorted := slices.Clone(namespaces)
	slices.Sort(sorted)
	return strings.Join(slices.Compact(sorted), ",")
}

// WriteExport encodes the settings into an export's annotations, and
// removes the annotations of settings that are empty.
func (s ExportSettings) WriteExport(annotations map[string]string) error {
	delete(annotations, binderyv1alpha1.ConsumerNamespacesAnnotation)
	delete(annotations, binderyv1alpha1.MaxObjectsAnnotation)
	if err := writeClaims(annotations, binderyv1alpha1.PermissionClaimsAnnotation, s.Claims); err != nil {
		return err
	}
	if len(s.Namespaces) > 0 {
		annotations[binderyv1alpha1.ConsumerNamespacesAnnotation] = strings.Join(s.Namespaces, ",")
	}
	if s.MaxObjects != nil {
		annotations[binderyv1alpha1.MaxObjectsAnnotation] = strconv.Itoa(int(*s.MaxObjects))
	}
	return nil
}

// Covers reports whether the export's service covers consumer namespace
// ns.
func (s ExportSettings) Covers(ns string) bool {
	return len(s.Namespaces) == 0 || slices.Contains(s.Namespaces, ns)
}

// Key is a stable string of the settings, for telling whether they
// changed.
func (s ExportSettings) Key() string {
	a := map[string]string{}
	_ = s.WriteExport(a)
	return fmt.Sprint(a) // fmt prints a map's keys sorted
}

// BindingSettings are the Bindery settings of one APIServiceBinding.
type BindingSettings struct {
	// AcceptedClaims are the permission claims the user accepted when
	// binding.
	AcceptedClaims []binderyv1alpha1.PermissionClaim
	// SchemaUpdatePolicy is how the konnector follows the provider's
	// schema changes: NonBreaking (the default when empty) or Never.
	SchemaUpdatePolicy binderyv1alpha1.SchemaUpdatePolicy
	// Export names the APIServiceExport the binding binds, when it is not
	// the binding's name.
	Export string
	// Namespaces, when not empty, are the only consumer namespaces the
	// binding syncs (kubectl bind --namespace).
	Namespaces []string
}

// ExportOf returns the name of the APIServiceExport that the binding of
// name, with these annotations, binds: the binding's own name unless
// ExportAnnotation names another.
func ExportOf(name string, annotations map[string]string) string {
	if e := annotations[binderyv1alpha1.ExportAnnotation]; e != "" {
		return e
	}
	return name
}

// ReadBinding decodes the settings from a binding's annotations.
func ReadBinding(annotations map[string]string) (BindingSettings, error) {
	claims, err := readClaims(annotations, binderyv1alpha1.AcceptedClaimsAnnotation)
	if err != nil {
		return BindingSettings{}, err
	}
	s := BindingSettings{
		AcceptedClaims:     claims,
		SchemaUpdatePolicy: binderyv1alpha1.SchemaUpdatePolicy(annotations[binderyv1alpha1.SchemaUpdatePolicyAnnotation]),
		Export:             annotations[binderyv1alpha1.ExportAnnotation],
		Namespaces:         SplitNamespaces(annotations[binderyv1alpha1.BindingNamespacesAnnotation]),
	}
	for _, ns := range s.Namespaces {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return BindingSettings{}, fmt.Errorf("the %s annotation names %q, which is not a namespace name: %s", binderyv1alpha1.BindingNamespacesAnnotation, ns, strings.Join(errs, "; "))
		}
	}
	switch s.SchemaUpdatePolicy {
	case "", binderyv1alpha1.SchemaUpdateNonBreaking, binderyv1alpha1.SchemaUpdateNever:
	default:
		return BindingSettings{}, fmt.Errorf("the %s annotation is %q; it may be %s or %s", binderyv1alpha1.SchemaUpdatePolicyAnnotation,
			s.SchemaUpdatePolicy, binderyv1alpha1.SchemaUpdateNonBreaking, binderyv1alpha1.SchemaUpdateNever)
	}
	return s, nil
}

// WriteBinding encodes the settings into a binding's annotations, and
// removes the annotations of settings that are empty.
func (s BindingSettings) WriteBinding(annotations map[string]string) error {
	for _, k := range []string{binderyv1alpha1.SchemaUpdatePolicyAnnotation, binderyv1alpha1.ExportAnnotation, binderyv1alpha1.BindingNamespacesAnnotation} {
		delete(annotations, k)
	}
	if s.SchemaUpdatePolicy != "" {
		annotations[binderyv1alpha1.SchemaUpdatePolicyAnnotation] = string(s.SchemaUpdatePolicy)
	}
	if s.Export != "" {
		annotations[binderyv1alpha1.ExportAnnotation] = s.Export
	}
	if len(s.Namespaces) > 0 {
		annotations[binderyv1alpha1.BindingNamespacesAnnotation] = JoinNamespaces(s.Namespaces)
	}
	return writeClaims(annotations, binderyv1alpha1.AcceptedClaimsAnnotation, s.AcceptedClaims)
}

// FollowsSchema reports whether the konnector applies the provider's
// schema changes that break nothing.
func (s BindingSettings) FollowsSchema() bool {
	return s.SchemaUpdatePolicy != binderyv1alpha1.SchemaUpdateNever
}

// ClaimedResources are the kinds the accepted claims copy, sorted, each
// once: what the konnector must be granted in the consumer cluster.
func (s BindingSettings) ClaimedResources() []string {
	return s.claimedKinds(func(binderyv1alpha1.PermissionClaim) bool { return true })
}

// WrittenClaimedResources are the kinds the accepted claims copy into the
// consumer cluster (from the provider), sorted, each once: what the
// konnector must be allowed to write there. The other claimed kinds it
// only reads.
func (s BindingSettings) WrittenClaimedResources() []string {
	return s.claimedKinds(func(c binderyv1alpha1.PermissionClaim) bool {
		return c.Direction != binderyv1alpha1.ClaimConsumerToProvider
	})
}

func (s BindingSettings) claimedKinds(keep func(binderyv1alpha1.PermissionClaim) bool) []string {
	var out []string
	for _, c := range s.AcceptedClaims {
		if keep(c) && !slices.Contains(out, c.Resource) {
			out = append(out, c.Resource)
		}
	}
	slices.Sort(out)
	return out
}

func readClaims(annotations map[string]string, key string) ([]binderyv1alpha1.PermissionClaim, error) {
	raw := annotations[key]
	if raw == "" {
		return nil, nil
	}
	var claims []binderyv1alpha1.PermissionClaim
	if err := json.Unmarshal([]byte(raw), &claims); err != nil {
		return nil, fmt.Errorf("the %s annotation is not a list of permission claims: %w", key, err)
	}
	return claims, nil
}

func writeClaims(annotations map[string]string, key string, claims []binderyv1alpha1.PermissionClaim) error {
	delete(annotations, key)
	if len(claims) == 0 {
		return nil
	}
	raw, err := json.Marshal(claims)
	if err != nil {
		return fmt.Errorf("encoding permission claims: %w", err)
	}
	annotations[key] = string(raw)
	return nil
}

// Split divides the claims a provider offers into those this binding
// accepted (each equal to an accepted claim) and those still pending the
// user's acceptance. A claim the provider dropped is in neither: what is
// copied only ever narrows without the user.
func (s BindingSettings) Split(offered []binderyv1alpha1.PermissionClaim) (accepted, pending []binderyv1alpha1.PermissionClaim) {
	for _, c := range offered {
		if s.Accepts(c) {
			accepted = append(accepted, c)
		} else {
			pending = append(pending, c)
		}
	}
	return accepted, pending
}

// Accepts reports whether claim c, exactly, is one the binding accepted.
func (s BindingSettings) Accepts(c binderyv1alpha1.PermissionClaim) bool {
	return slices.ContainsFunc(s.AcceptedClaims, func(a binderyv1alpha1.PermissionClaim) bool { return equality.Semantic.DeepEqual(a, c) })
}

// Describe says in words what a claim copies, and which way: for the
// binding page, kubectl bind and the konnector's conditions.
func Describe(c binderyv1alpha1.PermissionClaim) string {
	what := c.Resource
	if c.Group != "" {
		what += "." + c.Group
	}
	dir := "from the provider to your cluster"
	if c.Direction == binderyv1alpha1.ClaimConsumerToProvider {
		dir = "from your cluster to the provider"
	}
	sel := "all in the bound namespaces"
	switch s := c.Selector; {
	case len(s.Names) > 0:
		sel = "named " + strings.Join(s.Names, ", ")
	case s.LabelSelector != nil:
		sel = "selected by " + metav1.FormatLabelSelector(s.LabelSelector)
	case s.Reference != nil:
		sel = "referenced by ." + s.Reference.NamePath
	}
	return fmt.Sprintf("%s %s, %s", what, sel, dir)
}

// SelectedNamesAnnotation, on an APIServiceNamespace, lists the objects
// the claims that select (Selects) select in its service namespace now:
// "<resource>/<name>", comma-separated, empty when they select nothing.
// The backend grants exactly those, by name, before it lists them; the
// konnector watches each by name. Without the annotation (an older
// backend), such a claim is granted the kind.
const SelectedNamesAnnotation = "bindery.dev/selected-names"

// Selects reports whether the backend finds out which objects a claim
// selects, and lists them in SelectedNamesAnnotation: a claim by label
// selector or by reference. (A claim by names names them itself.)
func Selects(c binderyv1alpha1.PermissionClaim) bool {
	return len(c.Selector.Names) == 0 && (c.Selector.LabelSelector != nil || c.Selector.Reference != nil)
}

// Selected is the entry of SelectedNamesAnnotation for the object name of
// resource.
func Selected(resource, name string) string { return resource + "/" + name }

// JoinSelected is the value of SelectedNamesAnnotation for the selected
// objects, Selected entries each.
func JoinSelected(selected []string) string { return strings.Join(selected, ",") }

// SelectedNames reads SelectedNamesAnnotation: the names of resource it
// lists, and whether it is set at all.
func SelectedNames(annotations map[string]string, resource string) (names []string, set bool) {
	v, set := annotations[SelectedNamesAnnotation]
	for _, e := range strings.Split(v, ",") {
		if r, n, ok := strings.Cut(e, "/"); ok && r == resource && n != "" {
			names = append(names, n)
		}
	}
	return names, set
}

// HeldBy reports whether the objects of group/resource hold a claim's
// reference: it names no resource, or that one.
func HeldBy(ref binderyv1alpha1.ClaimReference, group, resource string) bool {
	r := ref.Resource
	return r == nil || r.Group == group && r.Resource == resource
}

// Referenced returns the name an object holds at a reference's path, and
// the namespace it names ("" when the reference names none, or the
// object leaves it empty: the object's own).
func Referenced(obj map[string]any, ref binderyv1alpha1.ClaimReference) (namespace, name string) {
	name, _, _ = unstructured.NestedString(obj, strings.Split(ref.NamePath, ".")...)
	if ref.NamespacePath != "" {
		namespace, _, _ = unstructured.NestedString(obj, strings.Split(ref.NamespacePath, ".")...)
	}
	return namespace, name
}
