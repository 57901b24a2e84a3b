package binding

import (
	"context"
	"fmt"
	"strings"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	conditionsapi "github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/apis/conditions/v1alpha1"
	"github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/util/conditions"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/contract"
	apicrds "github.com/bindery-dev/bindery/apis/crds"
	"github.com/bindery-dev/bindery/apis/crdsnapshot"
	"github.com/bindery-dev/bindery/apis/isolation"
	"github.com/bindery-dev/bindery/apis/schemacompat"
)

// ensureCRD creates or updates the CRD from the export's snapshot. A CRD
// this binding does not own is never touched.
func (r *Reconciler) ensureCRD(ctx context.Context, st *state) error {
	desired, err := crdsnapshot.ToCRD(st.export.Name, &st.export.Spec.APIServiceExportCRDSpec)
	if err != nil {
		conditions.MarkFalse(st.binding, kubebindv1alpha1.APIServiceBindingConditionSchemaInSync, ReasonInvalidExport, conditionsapi.ConditionSeverityError, "%v", err)
		return errStop
	}
	if _, err := isolation.For(desired.Spec.Scope, st.export.Spec.ClusterScopedIsolation); err != nil {
		conditions.MarkFalse(st.binding, kubebindv1alpha1.APIServiceBindingConditionSchemaInSync, ReasonIsolationUnsupported, conditionsapi.ConditionSeverityError,
			"%s is cluster-scoped: %v", desired.Name, err)
		return errStop
	}
	existing := &apiextensionsv1.CustomResourceDefinition{}
	err = r.Client.Get(ctx, client.ObjectKey{Name: desired.Name}, existing)
	switch {
	case apierrors.IsNotFound(err):
		if err := controllerutil.SetControllerReference(st.binding, desired, r.Client.Scheme()); err != nil {
			return err
		}
		if err := r.recordExportSchema(ctx, st, desired); err != nil {
			return err
		}
		if err := r.Client.Create(ctx, desired); err != nil {
			return fmt.Errorf("creating CRD %s: %w", desired.Name, err)
		}
		r.Recorder.Eventf(st.binding, nil, corev1.EventTypeNormal, "CRDCreated", "InstallCRD", "Created CRD %s from the provider's export", desired.Name)
		existing = desired
	case err != nil:
		return fmt.Errorf("getting CRD %s: %w", desired.Name, err)
	default:
		owner := metav1.GetControllerOf(existing)
		if owner == nil || owner.Kind != "APIServiceBinding" {
			conditions.MarkFalse(st.binding, kubebindv1alpha1.APIServiceBindingConditionSchemaInSync, ReasonForeignCRD, conditionsapi.ConditionSeverityError,
				"CRD %s already exists in this cluster and is not managed by a binding%s; it is left untouched. Remove it, or unbind", desired.Name, ownerText(owner))
			return errStop
		}
		if err := r.ensureShared(ctx, st, existing, desired, owner); err != nil {
			return err
		}
		if schemaDiffers(existing, desired) {
			settings, err := bindingSettings(st)
			if err != nil {
				return err
			}
			if r.schemaUpdateHeld(st, existing, settings) || r.sharedSchemaHeld(ctx, st, existing, desired) {
				// The installed schema stays, and the objects keep
				// syncing with it.
				st.crd = existing
				return nil
			}
			existing.Spec.Versions = desired.Spec.Versions
			existing.Spec.Names = desired.Spec.Names
			if err := r.Client.Update(ctx, existing); err != nil {
				conditions.MarkFalse(st.binding, kubebindv1alpha1.APIServiceBindingConditionSchemaInSync, ReasonUpdateRefused, conditionsapi.ConditionSeverityError,
					"this cluster refused the provider's new schema of %s: %v", desired.Name, err)
				return errStop
			}
			r.Recorder.Eventf(st.binding, nil, corev1.EventTypeNormal, "CRDUpdated", "InstallCRD", "Updated CRD %s to the provider's schema", desired.Name)
		}
	}
	if !apicrds.Established(existing) {
		conditions.MarkFalse(st.binding, kubebindv1alpha1.APIServiceBindingConditionSchemaInSync, ReasonNotEstablished, conditionsapi.ConditionSeverityInfo,
			"waiting for CRD %s to be established", desired.Name)
		return errStop
	}
	// An established CRD is served a moment later. Starting informers
	// before that costs a reflector backoff of a second or more. Once the
	// schema was in sync, the CRD is known to be served.
	if conditions.IsTrue(st.binding, kubebindv1alpha1.APIServiceBindingConditionSchemaInSync) {
		st.crd = existing
		return nil
	}
	if _, err := r.Consumer.Resource(storageGVR(existing)).List(ctx, metav1.ListOptions{Limit: 1}); apierrors.IsNotFound(err) {
		conditions.MarkFalse(st.binding, kubebindv1alpha1.APIServiceBindingConditionSchemaInSync, ReasonNotEstablished, conditionsapi.ConditionSeverityInfo,
			"waiting for %s to be served", desired.Name)
		st.retry = 100 * time.Millisecond
		return errStop
	}
	st.crd = existing
	conditions.MarkTrue(st.binding, kubebindv1alpha1.APIServiceBindingConditionSchemaInSync)
	return nil
}

// storageGVR is the resource of a CRD at its storage version.
func storageGVR(crd *apiextensionsv1.CustomResourceDefinition) schema.GroupVersionResource {
	gvr := schema.GroupVersionResource{Group: crd.Spec.Group, Resource: crd.Spec.Names.Plural}
	for _, v := range crd.Spec.Versions {
		if v.Storage {
			gvr.Version = v.Name
		}
	}
	return gvr
}

func ownerText(o *metav1.OwnerReference) string {
	if o == nil {
		return ""
	}
	return fmt.Sprintf(" (owner: %s %s)", o.Kind, o.Name)
}

// schemaUpdateHeld reports, with SchemaInSync=False, a provider schema
// change this binding does not apply: its policy is Never, or the change
// would break objects in this cluster. The konnector checks this itself,
// with the backend's rules, whatever the provider decided.
func (r *Reconciler) schemaUpdateHeld(st *state, existing *apiextensionsv1.CustomResourceDefinition, settings contract.BindingSettings) bool {
	if !settings.FollowsSchema() {
		conditions.MarkFalse(st.binding, kubebindv1alpha1.APIServiceBindingConditionSchemaInSync, ReasonSchemaUpdateHeld, conditionsapi.ConditionSeverityInfo,
			"the provider changed the schema of %s; this binding's %s is %s, so the installed schema is kept. Remove the annotation to follow the provider",
			existing.Name, binderyv1alpha1.SchemaUpdatePolicyAnnotation, settings.SchemaUpdatePolicy)
		return true
	}
	installed, err := crdsnapshot.FromCRD(existing, nil)
	if err != nil {
		conditions.MarkFalse(st.binding, kubebindv1alpha1.APIServiceBindingConditionSchemaInSync, ReasonSchemaUpdateRefused, conditionsapi.ConditionSeverityError,
			"cannot compare the installed schema of %s with the provider's: %v", existing.Name, err)
		return true
	}
	breaking := schemacompat.BreakingChanges(installed, &st.export.Spec.APIServiceExportCRDSpec)
	if len(breaking) == 0 {
		return false
	}
	what := make([]string, 0, len(breaking))
	for _, c := range breaking {
		what = append(what, c.String())
	}
	conditions.MarkFalse(st.binding, kubebindv1alpha1.APIServiceBindingConditionSchemaInSync, ReasonSchemaUpdateRefused, conditionsapi.ConditionSeverityError,
		"the provider's new schema of %s would break objects in this cluster, so the installed schema is kept: %s. Tell the provider; to take the new schema anyway, unbind and bind again",
		existing.Name, strings.Join(what, "; "))
	r.Recorder.Eventf(st.binding, nil, corev1.EventTypeWarning, ReasonSchemaUpdateRefused, "UpdateCRD", "Kept the installed schema of %s: %s", existing.Name, strings.Join(what, "; "))
	return true
}
