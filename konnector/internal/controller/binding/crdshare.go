package binding

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	conditionsapi "github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/apis/conditions/v1alpha1"
	"github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/util/conditions"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/contract"
	"github.com/bindery-dev/bindery/apis/crdsnapshot"
	"github.com/bindery-dev/bindery/apis/schemacompat"
)

// A CRD bound from several providers. The bindings limited to namespaces
// share one CRD: the first installs it and controls it, the others join as
// owners when their provider offers the same schema. Each records the hash
// of the schema its provider offers (ExportSchemaAnnotation); the shared
// CRD changes only when they all offer the same one. The CRD goes with the
// last of them.

// schemaDiffers reports whether the installed CRD differs from the one a
// provider's export describes.
func schemaDiffers(existing, desired *apiextensionsv1.CustomResourceDefinition) bool {
	return !equality.Semantic.DeepEqual(existing.Spec.Versions, desired.Spec.Versions) || !equality.Semantic.DeepEqual(existing.Spec.Names, desired.Spec.Names) ||
		existing.Spec.Scope != desired.Spec.Scope
}

// schemaHash identifies the schema of a CRD made from an export.
func schemaHash(crd *apiextensionsv1.CustomResourceDefinition) string {
	raw, _ := json.Marshal([]any{crd.Spec.Scope, crd.Spec.Names, crd.Spec.Versions})
	sum := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(sum[:12])
}

// limited reports whether binding b is limited to namespaces, read as
// contract.ReadBinding reads them.
func limited(b *kubebindv1alpha1.APIServiceBinding) bool {
	return len(contract.SplitNamespaces(b.Annotations[binderyv1alpha1.BindingNamespacesAnnotation])) > 0
}

// otherOwners are the bindings, other than b, that own crd.
func otherOwners(crd *apiextensionsv1.CustomResourceDefinition, b *kubebindv1alpha1.APIServiceBinding) []metav1.OwnerReference {
	var out []metav1.OwnerReference
	for _, o := range crd.OwnerReferences {
		if o.Kind == "APIServiceBinding" && o.UID != b.UID {
			out = append(out, o)
		}
	}
	return out
}

// ownedBy reports whether b is one of crd's owners.
func ownedBy(crd *apiextensionsv1.CustomResourceDefinition, b *kubebindv1alpha1.APIServiceBinding) bool {
	return slices.ContainsFunc(crd.OwnerReferences, func(o metav1.OwnerReference) bool { return o.UID == b.UID })
}

// ensureShared checks that the binding may use a CRD that other bindings
// own too, and joins it as an owner: only bindings limited to namespaces
// share a CRD, and only with the same schema. Nothing is changed
// otherwise.
func (r *Reconciler) ensureShared(ctx context.Context, st *state, existing, desired *apiextensionsv1.CustomResourceDefinition, controller *metav1.OwnerReference) error {
	b := st.binding
	others := otherOwners(existing, b)
	if len(others) == 0 {
		return nil
	}
	if !limited(b) {
		conditions.MarkFalse(b, kubebindv1alpha1.APIServiceBindingConditionSchemaInSync, ReasonConflict, conditionsapi.ConditionSeverityError,
			"CRD %s is already bound by APIServiceBinding %s; one resource can be bound from several providers only by bindings limited to "+
				"different namespaces (kubectl bind --namespace). Unbind one of them, or limit both", desired.Name, others[0].Name)
		return errStop
	}
	if ownedBy(existing, b) {
		return r.recordExportSchema(ctx, st, desired)
	}
	other := &kubebindv1alpha1.APIServiceBinding{}
	if err := r.Client.Get(ctx, client.ObjectKey{Name: controller.Name}, other); err != nil {
		return fmt.Errorf("reading binding %s, which controls CRD %s: %w", controller.Name, desired.Name, err)
	}
	if !limited(other) {
		conditions.MarkFalse(b, kubebindv1alpha1.APIServiceBindingConditionSchemaInSync, ReasonConflict, conditionsapi.ConditionSeverityError,
			"CRD %s is already bound by APIServiceBinding %s for every namespace; one resource can be bound from several providers only by bindings limited to "+
				"different namespaces (kubectl bind --namespace). Unbind %s and bind it again limited to its namespaces", desired.Name, other.Name, other.Name)
		return errStop
	}
	if schemaDiffers(existing, desired) {
		conditions.MarkFalse(b, kubebindv1alpha1.APIServiceBindingConditionSchemaInSync, ReasonSchemaMismatch, conditionsapi.ConditionSeverityError,
			"CRD %s is installed from binding %s (%s), and this provider offers another schema of it%s; nothing was changed. "+
				"Bindings of one resource from several providers need the same schema: ask the providers to align, or unbind one",
			desired.Name, other.Name, other.Status.ProviderPrettyName, differences(existing, st.export))
		return errStop
	}
	if err := r.recordExportSchema(ctx, st, desired); err != nil {
		return err
	}
	if err := controllerutil.SetOwnerReference(b, existing, r.Client.Scheme(), controllerutil.WithBlockOwnerDeletion(false)); err != nil {
		return err
	}
	if err := r.Client.Update(ctx, existing); err != nil {
		return fmt.Errorf("adding binding %s to the owners of CRD %s: %w", b.Name, existing.Name, err)
	}
	r.Recorder.Eventf(b, nil, corev1.EventTypeNormal, "CRDShared", "InstallCRD", "CRD %s, installed from binding %s, has the same schema; this binding shares it", existing.Name, other.Name)
	return nil
}

// differences says, in words, how the provider's schema differs from the
// installed one, as far as the compatibility rules tell.
func differences(installed *apiextensionsv1.CustomResourceDefinition, export *kubebindv1alpha1.APIServiceExport) string {
	snap, err := crdsnapshot.FromCRD(installed, nil)
	if err != nil {
		return ""
	}
	var what []string
	for _, c := range schemacompat.BreakingChanges(snap, &export.Spec.APIServiceExportCRDSpec) {
		what = append(what, c.String())
	}
	if len(what) == 0 {
		return ""
	}
	return " (" + strings.Join(what, "; ") + ")"
}

// recordExportSchema records, on a binding limited to namespaces, the
// hash of the schema its provider offers.
func (r *Reconciler) recordExportSchema(ctx context.Context, st *state, desired *apiextensionsv1.CustomResourceDefinition) error {
	if !limited(st.binding) {
		return nil
	}
	return r.annotateAndWake(ctx, st.binding, binderyv1alpha1.ExportSchemaAnnotation, ptr.To(schemaHash(desired)))
}

// sharedSchemaHeld reports, with SchemaInSync=False, a schema change of a
// shared CRD that not every binding sharing it offers yet: the installed
// schema is kept until they all offer the same one.
func (r *Reconciler) sharedSchemaHeld(ctx context.Context, st *state, existing, desired *apiextensionsv1.CustomResourceDefinition) bool {
	hash := schemaHash(desired)
	var behind []string
	for _, o := range otherOwners(existing, st.binding) {
		other := &kubebindv1alpha1.APIServiceBinding{}
		if err := r.Client.Get(ctx, client.ObjectKey{Name: o.Name}, other); err != nil || other.Annotations[binderyv1alpha1.ExportSchemaAnnotation] != hash {
			behind = append(behind, o.Name)
		}
	}
	if len(behind) == 0 {
		return false
	}
	conditions.MarkFalse(st.binding, kubebindv1alpha1.APIServiceBindingConditionSchemaInSync, ReasonSchemaMismatch, conditionsapi.ConditionSeverityWarning,
		"the provider changed the schema of %s, which binding(s) %s share from other providers that do not offer it (yet); the installed schema is kept, "+
			"and objects keep syncing with it, until all of them offer the same one", existing.Name, strings.Join(behind, ", "))
	return true
}

// releaseCRD removes the binding from the owners of a CRD that other
// bindings still share, handing control to the next one, instead of
// deleting it.
func (r *Reconciler) releaseCRD(ctx context.Context, crd *apiextensionsv1.CustomResourceDefinition, b *kubebindv1alpha1.APIServiceBinding) error {
	wasController := metav1.IsControlledBy(crd, b)
	var refs []metav1.OwnerReference
	for _, o := range crd.OwnerReferences {
		if o.UID != b.UID {
			refs = append(refs, o)
		}
	}
	if wasController {
		for i := range refs {
			if refs[i].Kind == "APIServiceBinding" {
				refs[i].Controller = ptr.To(true)
				break
			}
		}
	}
	crd.OwnerReferences = refs
	if err := r.Client.Update(ctx, crd); err != nil {
		return fmt.Errorf("removing binding %s from the owners of CRD %s: %w", b.Name, crd.Name, err)
	}
	return nil
}
