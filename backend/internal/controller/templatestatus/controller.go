// Package templatestatus reports, on each APIServiceExportTemplate, which
// of its resources exist and are established on the control plane, and a
// Ready condition that says whether the template can be bound and why not.
package templatestatus

import (
	"context"
	"fmt"
	"slices"
	"strings"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/util/conditions"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/catalog"
	apicrds "github.com/bindery-dev/bindery/apis/crds"
	"github.com/bindery-dev/bindery/backend/internal/consumer"
)

// Reconciler reconciles the status of APIServiceExportTemplates.
type Reconciler struct {
	Client client.Client
}

// SetupWithManager wires the reconciler; any CRD change re-checks every
// template, since templates name CRDs by group and resource.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	all := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
		list := &binderyv1alpha1.APIServiceExportTemplateList{}
		if err := r.Client.List(ctx, list); err != nil {
			return nil
		}
		out := make([]reconcile.Request, 0, len(list.Items))
		for i := range list.Items {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
		return out
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("templatestatus").
		For(&binderyv1alpha1.APIServiceExportTemplate{}).
		Watches(&apiextensionsv1.CustomResourceDefinition{}, all).
		Watches(&kubebindv1alpha1.APIServiceExport{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj client.Object) []reconcile.Request {
			if name := obj.GetLabels()[consumer.TemplateLabel]; name != "" {
				return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: name}}}
			}
			return nil
		})).
		Complete(r)
}

// Reconcile computes a template's status.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	tmpl := &binderyv1alpha1.APIServiceExportTemplate{}
	if err := r.Client.Get(ctx, req.NamespacedName, tmpl); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	crds := &apiextensionsv1.CustomResourceDefinitionList{}
	if err := r.Client.List(ctx, crds); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing CRDs: %w", err)
	}
	exports := &kubebindv1alpha1.APIServiceExportList{}
	if err := r.Client.List(ctx, exports, client.MatchingLabels{consumer.TemplateLabel: tmpl.Name}); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing exports of template %s: %w", tmpl.Name, err)
	}
	patch := client.MergeFrom(tmpl.DeepCopy())
	tmpl.Status.Resources = Resources(tmpl.Spec, crds.Items)
	tmpl.Status.ResourceSummary = catalog.ResourceSummary(tmpl.Spec)
	tmpl.Status.ObservedGeneration = tmpl.Generation
	meta.SetStatusCondition(&tmpl.Status.Conditions, Ready(tmpl.Status.Resources, tmpl.Generation))
	meta.SetStatusCondition(&tmpl.Status.Conditions, SchemaUpdatesApplied(exports.Items, tmpl.Generation))
	if err := r.Client.Status().Patch(ctx, tmpl, patch); err != nil {
		return ctrl.Result{}, fmt.Errorf("updating status of template %s: %w", tmpl.Name, err)
	}
	return ctrl.Result{}, nil
}

// Resources finds each resource of spec among crds.
func Resources(spec binderyv1alpha1.APIServiceExportTemplateSpec, crds []apiextensionsv1.CustomResourceDefinition) []binderyv1alpha1.ResourceStatus {
	out := make([]binderyv1alpha1.ResourceStatus, 0, len(spec.Resources))
	for _, res := range spec.Resources {
		st := binderyv1alpha1.ResourceStatus{Group: res.Group, Resource: res.Resource}
		idx := slices.IndexFunc(crds, func(c apiextensionsv1.CustomResourceDefinition) bool {
			return c.Spec.Group == res.Group && c.Spec.Names.Plural == res.Resource
		})
		if idx < 0 {
			st.State = binderyv1alpha1.ResourceMissing
			st.Message = fmt.Sprintf("CRD %s.%s does not exist", res.Resource, res.Group)
			out = append(out, st)
			continue
		}
		crd := crds[idx]
		st.Scope = string(crd.Spec.Scope)
		var missing []string
		for _, v := range res.Versions {
			if !slices.ContainsFunc(crd.Spec.Versions, func(cv apiextensionsv1.CustomResourceDefinitionVersion) bool { return cv.Name == v && cv.Served }) {
				missing = append(missing, v)
			}
		}
		switch {
		case !apicrds.Established(&crd):
			st.State = binderyv1alpha1.ResourceNotEstablished
			st.Message = fmt.Sprintf("CRD %s is not established", crd.Name)
		case len(missing) > 0:
			st.State = binderyv1alpha1.ResourceVersionsMissing
			st.Message = fmt.Sprintf("CRD %s does not serve %s", crd.Name, strings.Join(missing, ", "))
		default:
			st.State = binderyv1alpha1.ResourceEstablished
		}
		out = append(out, st)
	}
	return out
}

// SchemaUpdatesApplied lifts the schema update refusals of the template's
// exports onto the template: False with reason BreakingChange naming each
// refused CRD change once, however many consumers it concerns.
func SchemaUpdatesApplied(exports []kubebindv1alpha1.APIServiceExport, generation int64) metav1.Condition {
	cond := metav1.Condition{Type: binderyv1alpha1.TemplateConditionSchemaUpdatesApplied, ObservedGeneration: generation}
	var msgs []string
	count := 0
	for i := range exports {
		c := conditions.Get(&exports[i], binderyv1alpha1.TemplateConditionSchemaUpdatesApplied)
		if c == nil || c.Status != corev1.ConditionFalse || c.Reason != binderyv1alpha1.ReasonBreakingChange {
			continue
		}
		count++
		if !slices.Contains(msgs, c.Message) {
			msgs = append(msgs, c.Message)
		}
	}
	if count == 0 {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionTrue, binderyv1alpha1.ReasonUpToDate, "every export of this template matches its CRD or was changed compatibly"
		return cond
	}
	slices.Sort(msgs)
	cond.Status, cond.Reason = metav1.ConditionFalse, binderyv1alpha1.ReasonBreakingChange
	cond.Message = fmt.Sprintf("%d export(s) kept their schema: %s", count, strings.Join(msgs, "; "))
	return cond
}

// Ready summarizes resource states into the Ready condition.
func Ready(resources []binderyv1alpha1.ResourceStatus, generation int64) metav1.Condition {
	cond := metav1.Condition{Type: binderyv1alpha1.TemplateConditionReady, ObservedGeneration: generation}
	var msgs []string
	reason := ""
	scopes := map[string]bool{}
	for _, r := range resources {
		if r.Scope != "" {
			scopes[r.Scope] = true
		}
		if r.State == binderyv1alpha1.ResourceEstablished {
			continue
		}
		msgs = append(msgs, r.Message)
		if reason == "" {
			reason = map[binderyv1alpha1.ResourceState]string{
				binderyv1alpha1.ResourceMissing:         binderyv1alpha1.ReasonResourcesMissing,
				binderyv1alpha1.ResourceNotEstablished:  binderyv1alpha1.ReasonResourcesNotEstablished,
				binderyv1alpha1.ResourceVersionsMissing: binderyv1alpha1.ReasonVersionsMissing,
			}[r.State]
		}
	}
	switch {
	case len(msgs) > 0:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, reason, strings.Join(msgs, "; ")
	case len(scopes) > 1:
		cond.Status, cond.Reason = metav1.ConditionFalse, binderyv1alpha1.ReasonMixedScopes
		cond.Message = "the resources mix namespaced and cluster-scoped CRDs; a template must use one scope"
	default:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionTrue, binderyv1alpha1.ReasonAllResourcesEstablished, "every resource is established and can be bound"
	}
	return cond
}
