// Package exportupdate keeps APIServiceExports current when the CRDs they
// snapshot change on the control plane, according to the schema update
// policy of the service they were bound from, and keeps their claims and
// namespaces those of the service.
//
// Drift is detected with kube-bind's source spec hash: the export carries
// the hash of the snapshot it was made from, and a fresh snapshot of the
// CRD with another hash is a change. Additive changes are applied under
// NonBreaking and Always; breaking ones only under Always. Never freezes the
// export. A refused or frozen change is a False SchemaUpdatesApplied
// condition on the export that names the offending paths; the template
// status controller lifts refusals onto the template.
package exportupdate

import (
	"context"
	"fmt"
	"slices"
	"strings"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	conditionsapi "github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/apis/conditions/v1alpha1"
	"github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/util/conditions"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/catalog"
	"github.com/bindery-dev/bindery/apis/contract"
	"github.com/bindery-dev/bindery/apis/crdsnapshot"
	"github.com/bindery-dev/bindery/apis/schemacompat"
	"github.com/bindery-dev/bindery/backend/internal/consumer"
	"github.com/bindery-dev/bindery/backend/internal/metrics"
)

// ConditionSchemaUpdatesApplied, on an APIServiceExport, is True when the
// export's snapshot matches its CRD, and False with a reason when a change
// was refused (BreakingChange), is frozen (Frozen) or the CRD is gone
// (CRDMissing).
const ConditionSchemaUpdatesApplied conditionsapi.ConditionType = binderyv1alpha1.TemplateConditionSchemaUpdatesApplied

// Reasons of ConditionSchemaUpdatesApplied besides the template's.
const (
	ReasonFrozen     = "Frozen"
	ReasonCRDMissing = "CRDMissing"
)

// Reconciler reconciles APIServiceExports against their CRDs.
type Reconciler struct {
	Client   client.Client
	Recorder events.EventRecorder
}

// SetupWithManager wires the reconciler: a CRD change re-checks the exports
// of that CRD in every consumer namespace, and a template change (its
// policy or versions) re-checks the exports bound from it.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	byCRD := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		return r.exports(ctx, func(e *kubebindv1alpha1.APIServiceExport) bool { return e.Name == obj.GetName() })
	})
	byTemplate := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		return r.exports(ctx, func(e *kubebindv1alpha1.APIServiceExport) bool {
			return e.Labels[consumer.TemplateLabel] == obj.GetName()
		})
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("exportupdate").
		For(&kubebindv1alpha1.APIServiceExport{}).
		Watches(&apiextensionsv1.CustomResourceDefinition{}, byCRD).
		Watches(&binderyv1alpha1.APIServiceExportTemplate{}, byTemplate).
		Complete(r)
}

func (r *Reconciler) exports(ctx context.Context, match func(*kubebindv1alpha1.APIServiceExport) bool) []reconcile.Request {
	list := &kubebindv1alpha1.APIServiceExportList{}
	if err := r.Client.List(ctx, list); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing APIServiceExports")
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		if match(&list.Items[i]) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return out
}

// Reconcile compares an export with a fresh snapshot of its CRD and applies
// the service's policy.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	export := &kubebindv1alpha1.APIServiceExport{}
	if err := r.Client.Get(ctx, req.NamespacedName, export); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !export.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}

	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := r.Client.Get(ctx, client.ObjectKey{Name: export.Name}, crd); apierrors.IsNotFound(err) {
		// Lose nothing: the export keeps its snapshot, so bound consumers
		// keep their CRD, until the operator restores or unoffers it.
		return ctrl.Result{}, r.setCondition(ctx, export, conditionsapi.ConditionSeverityWarning, ReasonCRDMissing,
			"CRD %s no longer exists on the provider; the export keeps the schema it was bound with", export.Name)
	} else if err != nil {
		return ctrl.Result{}, fmt.Errorf("getting CRD %s: %w", export.Name, err)
	}

	service, policy, err := r.service(ctx, export)
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := r.ensureSettings(ctx, export, service, crd); err != nil {
		return ctrl.Result{}, err
	}
	fresh, err := snapshot(crd, service)
	if err != nil {
		return ctrl.Result{}, r.refuse(ctx, export, service, "%v", err)
	}
	if crdsnapshot.Hash(fresh) == export.Annotations[kubebindv1alpha1.SourceSpecHashAnnotationKey] {
		return ctrl.Result{}, r.setCondition(ctx, export, "", binderyv1alpha1.ReasonUpToDate, "")
	}

	changes := schemacompat.Diff(&export.Spec.APIServiceExportCRDSpec, fresh)
	var breaking []string
	for _, c := range changes {
		if c.Severity == schemacompat.Breaking {
			breaking = append(breaking, c.String())
		}
	}
	switch {
	case policy == binderyv1alpha1.SchemaUpdateNever:
		return ctrl.Result{}, r.setCondition(ctx, export, conditionsapi.ConditionSeverityInfo, ReasonFrozen,
			"CRD %s changed (%s) but the schema update policy of %q is Never; the export keeps the schema it was bound with",
			crd.Name, summarize(changes), service.Name)
	case policy != binderyv1alpha1.SchemaUpdateAlways && len(breaking) > 0:
		return ctrl.Result{}, r.refuse(ctx, export, service,
			"refused breaking change(s) of CRD %s under policy NonBreaking: %s; revert them, or set schemaUpdatePolicy Always on %q",
			crd.Name, strings.Join(breaking, "; "), service.Name)
	}

	export.Spec.APIServiceExportCRDSpec = *fresh
	if export.Annotations == nil {
		export.Annotations = map[string]string{}
	}
	export.Annotations[kubebindv1alpha1.SourceSpecHashAnnotationKey] = crdsnapshot.Hash(fresh)
	if err := r.Client.Update(ctx, export); err != nil {
		return ctrl.Result{}, fmt.Errorf("updating APIServiceExport %s/%s: %w", export.Namespace, export.Name, err)
	}
	log.Info("Applied schema update", "crd", crd.Name, "policy", policy, "changes", summarize(changes))
	metrics.SchemaUpdates.WithLabelValues("applied").Inc()
	r.Recorder.Eventf(export, nil, corev1.EventTypeNormal, "SchemaUpdated", "UpdateSchema",
		"Applied changes of CRD %s under policy %s: %s", crd.Name, policy, summarize(changes))
	return ctrl.Result{}, r.setCondition(ctx, export, "", binderyv1alpha1.ReasonUpToDate, "")
}

// ensureSettings keeps the export's claims, namespaces and bound on
// objects those of its service, so that a template change reaches existing
// consumers. An export whose service is gone keeps what it was bound
// with. Konnectors copy widened claims only once their users accept them.
func (r *Reconciler) ensureSettings(ctx context.Context, export *kubebindv1alpha1.APIServiceExport, service catalog.Service, crd *apiextensionsv1.CustomResourceDefinition) error {
	if service.Source == "" {
		return nil
	}
	want := service.ExportSettings(crd.Spec.Group, crd.Spec.Names.Plural)
	have, err := contract.ReadExport(export.Annotations)
	if err == nil && have.Key() == want.Key() {
		return nil
	}
	if export.Annotations == nil {
		export.Annotations = map[string]string{}
	}
	if err := want.WriteExport(export.Annotations); err != nil {
		return err
	}
	if err := r.Client.Update(ctx, export); err != nil {
		return fmt.Errorf("updating the settings of APIServiceExport %s/%s: %w", export.Namespace, export.Name, err)
	}
	r.Recorder.Eventf(export, nil, corev1.EventTypeNormal, "SettingsUpdated", "UpdateSettings",
		"Claims, namespaces and bound on objects follow %q: %d claim(s), namespaces %v, bound %s", service.Name, len(want.Claims), want.Namespaces, boundOf(want))
	return nil
}

// boundOf says a service's bound on objects for an Event.
func boundOf(s contract.ExportSettings) string {
	switch {
	case s.MaxObjects == nil:
		return "the backend's"
	case *s.MaxObjects == 0:
		return "none"
	}
	return fmt.Sprint(*s.MaxObjects)
}

// service returns the name and schema update policy of the service the
// export was bound from. An export whose service is gone keeps getting
// non-breaking updates, the default policy.
func (r *Reconciler) service(ctx context.Context, export *kubebindv1alpha1.APIServiceExport) (catalog.Service, binderyv1alpha1.SchemaUpdatePolicy, error) {
	name := export.Labels[consumer.TemplateLabel]
	templates := &binderyv1alpha1.APIServiceExportTemplateList{}
	if err := r.Client.List(ctx, templates); err != nil {
		return catalog.Service{}, "", fmt.Errorf("listing templates: %w", err)
	}
	crds := &apiextensionsv1.CustomResourceDefinitionList{}
	if err := r.Client.List(ctx, crds, client.MatchingLabels{catalog.ExportedLabel: "true"}); err != nil {
		return catalog.Service{}, "", fmt.Errorf("listing exported CRDs: %w", err)
	}
	svc, ok := catalog.Find(catalog.Build(templates.Items, crds.Items), name)
	if !ok {
		// Keep the isolation the export was bound with, which decides
		// the scope consumers see.
		gone := catalog.Service{Name: name, Spec: binderyv1alpha1.APIServiceExportTemplateSpec{
			ClusterScopedIsolation: binderyv1alpha1.Isolation(export.Spec.ClusterScopedIsolation),
		}}
		return gone, binderyv1alpha1.SchemaUpdateNonBreaking, nil
	}
	policy := svc.Spec.SchemaUpdatePolicy
	if policy == "" {
		policy = binderyv1alpha1.SchemaUpdateNonBreaking
	}
	return svc, policy, nil
}

// snapshot takes the snapshot the export should have now: the versions the
// service offers that the CRD still serves, or all served versions when the
// service lists none.
func snapshot(crd *apiextensionsv1.CustomResourceDefinition, svc catalog.Service) (*kubebindv1alpha1.APIServiceExportCRDSpec, error) {
	var versions []string
	if offered, ok := svc.Resource(crd.Spec.Group, crd.Spec.Names.Plural); ok && len(offered.Versions) > 0 {
		for _, v := range offered.Versions {
			if slices.ContainsFunc(crd.Spec.Versions, func(cv apiextensionsv1.CustomResourceDefinitionVersion) bool { return cv.Name == v && cv.Served }) {
				versions = append(versions, v)
			}
		}
		if len(versions) == 0 {
			return nil, fmt.Errorf("CRD %s no longer serves any offered version (%s)", crd.Name, strings.Join(offered.Versions, ", "))
		}
	}
	return svc.Snapshot(crd, versions)
}

func (r *Reconciler) refuse(ctx context.Context, export *kubebindv1alpha1.APIServiceExport, svc catalog.Service, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if c := conditions.Get(export, ConditionSchemaUpdatesApplied); c == nil || c.Message != msg {
		metrics.SchemaUpdates.WithLabelValues("refused").Inc()
		r.Recorder.Eventf(export, nil, corev1.EventTypeWarning, binderyv1alpha1.ReasonBreakingChange, "UpdateSchema", "%s", msg)
	}
	return r.setCondition(ctx, export, conditionsapi.ConditionSeverityError, binderyv1alpha1.ReasonBreakingChange, "%s", msg)
}

// setCondition sets SchemaUpdatesApplied: True when severity is empty, else
// False with reason and message.
func (r *Reconciler) setCondition(ctx context.Context, export *kubebindv1alpha1.APIServiceExport, severity conditionsapi.ConditionSeverity, reason, format string, args ...any) error {
	before := export.DeepCopy()
	if severity == "" {
		conditions.MarkTrue(export, ConditionSchemaUpdatesApplied)
	} else {
		conditions.MarkFalse(export, ConditionSchemaUpdatesApplied, reason, severity, format, args...)
	}
	if equality.Semantic.DeepEqual(before.Status, export.Status) {
		return nil
	}
	if err := r.Client.Status().Patch(ctx, export, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("updating status of APIServiceExport %s/%s: %w", export.Namespace, export.Name, err)
	}
	return nil
}

func summarize(changes []schemacompat.Change) string {
	if len(changes) == 0 {
		return "documentation only"
	}
	out := make([]string, 0, len(changes))
	for _, c := range changes {
		out = append(out, c.String())
	}
	return strings.Join(out, "; ")
}
