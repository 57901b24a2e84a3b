package exportrequest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	conditionsapi "github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/apis/conditions/v1alpha1"
	"github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/util/conditions"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/catalog"
	apicrds "github.com/bindery-dev/bindery/apis/crds"
	"github.com/bindery-dev/bindery/apis/crdsnapshot"
	"github.com/bindery-dev/bindery/backend/internal/consumer"
	"github.com/bindery-dev/bindery/backend/internal/controller/clusterobjects"
	"github.com/bindery-dev/bindery/backend/internal/metrics"
)

// refusal is a request that cannot succeed as it is: it ends in phase
// Failed with the message, which says what to fix.
type refusal struct{ msg string }

func (r *refusal) Error() string { return r.msg }

func refuse(format string, args ...any) error { return &refusal{msg: fmt.Sprintf(format, args...)} }

// waiting is a request that may succeed later, e.g. when a CRD becomes
// established; it stays Pending and is retried by the CRD watch.
type waiting struct{ msg string }

func (w *waiting) Error() string { return w.msg }

// plannedExport is one APIServiceExport a request leads to.
type plannedExport struct {
	service catalog.Service
	crd     *apiextensionsv1.CustomResourceDefinition
	spec    *kubebindv1alpha1.APIServiceExportCRDSpec
	// existing is the export the service already has in the cluster
	// namespace, or nil.
	existing *kubebindv1alpha1.APIServiceExport
}

// Reconcile validates a request and creates its exports.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	request := &kubebindv1alpha1.APIServiceExportRequest{}
	if err := r.Client.Get(ctx, req.NamespacedName, request); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	switch request.Status.Phase {
	case kubebindv1alpha1.APIServiceExportRequestPhaseSucceeded, kubebindv1alpha1.APIServiceExportRequestPhaseFailed:
		return ctrl.Result{}, nil // terminal, as in kube-bind
	}

	plan, err := r.confirmedPlan(ctx, request)
	var ref *refusal
	var wait *waiting
	switch {
	case errors.As(err, &ref):
		log.Info("Refusing export request", "reason", ref.msg)
		metrics.RequestsHandled.WithLabelValues("failed").Inc()
		r.Recorder.Eventf(request, nil, corev1.EventTypeWarning, "Refused", "Export", "%s", ref.msg)
		return ctrl.Result{}, r.setStatus(ctx, request, kubebindv1alpha1.APIServiceExportRequestPhaseFailed, ref.msg, "Refused")
	case errors.As(err, &wait):
		return ctrl.Result{}, r.waitFor(ctx, request, wait)
	case err != nil:
		metrics.ReconcileErrors.WithLabelValues("exportrequest").Inc()
		return ctrl.Result{}, err
	}

	exports := make([]*kubebindv1alpha1.APIServiceExport, 0, len(plan))
	for _, p := range plan {
		export, err := r.ensureExport(ctx, request, p)
		if err != nil {
			metrics.ReconcileErrors.WithLabelValues("exportrequest").Inc()
			return ctrl.Result{}, err
		}
		exports = append(exports, export)
	}
	if err := r.awaitGrants(ctx, exports); err != nil {
		if errors.As(err, &wait) {
			return ctrl.Result{}, r.waitFor(ctx, request, wait)
		}
		metrics.ReconcileErrors.WithLabelValues("exportrequest").Inc()
		return ctrl.Result{}, err
	}
	names := make([]string, 0, len(plan))
	for _, p := range plan {
		names = append(names, p.crd.Name)
	}
	metrics.RequestsHandled.WithLabelValues("succeeded").Inc()
	r.Recorder.Eventf(request, nil, corev1.EventTypeNormal, "Exported", "Export", "Created or confirmed APIServiceExport(s) %s", strings.Join(names, ", "))
	return ctrl.Result{}, r.setStatus(ctx, request, kubebindv1alpha1.APIServiceExportRequestPhaseSucceeded, "", "")
}

// confirmedPlan plans the request from the cache, and plans it again
// from the API server before a refusal: a refusal is final, and the cache
// may not yet have seen a template, CRD or namespace label made a moment
// before the request, or may still hold an export unbound a moment ago.
func (r *Reconciler) confirmedPlan(ctx context.Context, request *kubebindv1alpha1.APIServiceExportRequest) ([]plannedExport, error) {
	plan, err := r.plan(ctx, r.Client, request)
	var ref *refusal
	if !errors.As(err, &ref) {
		return plan, err
	}
	return r.plan(ctx, r.APIReader, request)
}

// plan checks the request against the catalogue, the CRDs and the
// exports already in the cluster namespace, as reader has them, and
// returns the exports the request leads to.
func (r *Reconciler) plan(ctx context.Context, reader client.Reader, request *kubebindv1alpha1.APIServiceExportRequest) ([]plannedExport, error) {
	ns := &corev1.Namespace{}
	if err := reader.Get(ctx, client.ObjectKey{Name: request.Namespace}, ns); err != nil {
		return nil, fmt.Errorf("getting namespace %s: %w", request.Namespace, err)
	}
	if ns.Labels[consumer.RoleLabel] != consumer.RoleCluster {
		return nil, refuse("namespace %s is not a consumer cluster namespace: bind with kubectl bind to get one", request.Namespace)
	}
	if len(request.Spec.Resources) == 0 {
		return nil, refuse("the request lists no resources")
	}

	templates := &binderyv1alpha1.APIServiceExportTemplateList{}
	if err := reader.List(ctx, templates); err != nil {
		return nil, fmt.Errorf("listing templates: %w", err)
	}
	crds := &apiextensionsv1.CustomResourceDefinitionList{}
	if err := reader.List(ctx, crds); err != nil {
		return nil, fmt.Errorf("listing CRDs: %w", err)
	}
	services := catalog.Build(templates.Items, crds.Items)

	grs := make([]binderyv1alpha1.GroupResource, 0, len(request.Spec.Resources))
	for _, res := range request.Spec.Resources {
		grs = append(grs, binderyv1alpha1.GroupResource{Group: res.Group, Resource: res.Resource})
	}

	service, err := chooseService(request, services, grs, crds.Items)
	if err != nil {
		return nil, err
	}

	var plan []plannedExport
	var scope apiextensionsv1.ResourceScope
	for _, res := range request.Spec.Resources {
		name := res.Resource + "." + res.Group
		crd := findCRD(crds.Items, res.Group, res.Resource)
		if crd == nil {
			return nil, refuse("CRD %s does not exist on the provider; ask the platform operator to install it", name)
		}
		if !apicrds.Established(crd) {
			return nil, &waiting{msg: fmt.Sprintf("CRD %s is not established yet", name)}
		}
		offered, _ := service.Resource(res.Group, res.Resource)
		versions := res.Versions
		if len(versions) > 0 && len(offered.Versions) > 0 {
			for _, v := range versions {
				if !slices.Contains(offered.Versions, v) {
					return nil, refuse("version %s of %s is not offered by %q (offered: %s)", v, name, service.Name, strings.Join(offered.Versions, ", "))
				}
			}
		}
		if len(versions) == 0 {
			versions = offered.Versions
		}
		spec, err := service.Snapshot(crd, versions)
		if err != nil {
			return nil, refuse("%v", err)
		}
		// The scope consumers get: under Namespaced isolation a
		// namespaced CRD is offered cluster-scoped.
		if scope != "" && spec.Scope != scope {
			return nil, refuse("the request mixes scopes: %s is %s but an earlier resource is %s; request them separately", name, spec.Scope, scope)
		}
		scope = spec.Scope
		plan = append(plan, plannedExport{service: service, crd: crd, spec: spec})
	}
	// Exports already there come last: a request that is wrong in itself
	// is told so before it is told to unbind something.
	for i := range plan {
		existing, err := existingExport(ctx, reader, request.Namespace, service.Name, plan[i].crd.Name)
		if err != nil {
			return nil, err
		}
		plan[i].existing = existing
	}
	return plan, nil
}

// existingExport returns the export named name in the cluster namespace,
// or nil when there is none. An export of another service is a clash the
// consumer must resolve by unbinding it.
func existingExport(ctx context.Context, reader client.Reader, namespace, service, name string) (*kubebindv1alpha1.APIServiceExport, error) {
	existing := &kubebindv1alpha1.APIServiceExport{}
	if err := reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, existing); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("getting APIServiceExport %s: %w", name, err)
	}
	if owner := existing.Labels[consumer.TemplateLabel]; owner != service {
		return nil, refuse("APIServiceExport %s already exists in this cluster's namespace from %q; it cannot also come from %q: unbind it first", name, owner, service)
	}
	return existing, nil
}

// chooseService finds the one service the request binds: the template the
// request names, or else the first service that offers every requested
// resource. When none does, the refusal says why for the first resource
// that is not offered.
func chooseService(request *kubebindv1alpha1.APIServiceExportRequest, services []catalog.Service, grs []binderyv1alpha1.GroupResource, crds []apiextensionsv1.CustomResourceDefinition) (catalog.Service, error) {
	if name := request.Annotations[consumer.TemplateAnnotation]; name != "" {
		svc, ok := catalog.Find(services, name)
		if !ok {
			return catalog.Service{}, refuse("template %q does not exist or is being deleted; run `kubectl bind templates` to see what is offered", name)
		}
		for _, gr := range grs {
			if !svc.Offers(gr.Group, gr.Resource) {
				return catalog.Service{}, refuse("template %q does not offer %s.%s", name, gr.Resource, gr.Group)
			}
		}
		return svc, nil
	}
	if found := catalog.ForResources(services, grs...); len(found) > 0 {
		return found[0], nil
	}
	for _, gr := range grs {
		if len(catalog.ForResources(services, gr)) > 0 {
			continue
		}
		name := gr.Resource + "." + gr.Group
		if findCRD(crds, gr.Group, gr.Resource) == nil {
			return catalog.Service{}, refuse("CRD %s does not exist on the provider and is not offered", name)
		}
		return catalog.Service{}, refuse("%s is not offered by this provider: no APIServiceExportTemplate lists it and the CRD is not labelled %s=true", name, catalog.ExportedLabel)
	}
	return catalog.Service{}, refuse("no single service offers all of the requested resources together; request them separately")
}

// ensureExport creates the planned export, or returns the existing one
// from the same service. The export's later schema updates belong to the
// exportupdate controller, so an existing export is left as it is.
func (r *Reconciler) ensureExport(ctx context.Context, request *kubebindv1alpha1.APIServiceExportRequest, p plannedExport) (*kubebindv1alpha1.APIServiceExport, error) {
	if p.existing != nil {
		return p.existing, nil
	}
	export := &kubebindv1alpha1.APIServiceExport{}
	export.Namespace = request.Namespace
	export.Name = p.crd.Name
	export.Labels = map[string]string{consumer.TemplateLabel: p.service.Name}
	export.Annotations = map[string]string{
		consumer.SourceAnnotation:                    string(p.service.Source),
		kubebindv1alpha1.SourceSpecHashAnnotationKey: crdsnapshot.Hash(p.spec),
	}
	settings := p.service.ExportSettings(p.crd.Spec.Group, p.crd.Spec.Names.Plural)
	if err := settings.WriteExport(export.Annotations); err != nil {
		return nil, fmt.Errorf("writing the settings of APIServiceExport %s: %w", export.Name, err)
	}
	export.Spec.APIServiceExportCRDSpec = *p.spec
	if p.spec.Scope == apiextensionsv1.ClusterScoped {
		export.Spec.InformerScope = kubebindv1alpha1.ClusterScope
		export.Spec.ClusterScopedIsolation = kubebindv1alpha1.Isolation(p.service.Spec.ClusterScopedIsolation)
	} else {
		// Namespaced: the konnector watches only its own service
		// namespaces, which is all its RBAC allows.
		export.Spec.InformerScope = kubebindv1alpha1.NamespacedScope
	}
	if err := r.Client.Create(ctx, export); err != nil {
		return nil, fmt.Errorf("creating APIServiceExport %s: %w", export.Name, err)
	}
	metrics.Exports.Inc()
	r.Recorder.Eventf(export, nil, corev1.EventTypeNormal, "Created", "Export", "Snapshot of CRD %s for %q", p.crd.Name, p.service.Name)
	return export, nil
}

// awaitGrants keeps the request Pending until the consumer may write the
// objects of each of its exports: the provider grants create of
// cluster-scoped objects a few seconds after it first offers them
// (clusterobjects.Granted). So a bind is not Ready while its first objects
// would still be refused; the grant's change retries the request.
func (r *Reconciler) awaitGrants(ctx context.Context, exports []*kubebindv1alpha1.APIServiceExport) error {
	for _, export := range exports {
		granted, err := clusterobjects.Granted(ctx, r.Client, export)
		if err != nil {
			return err
		}
		if !granted {
			return &waiting{msg: fmt.Sprintf("the provider grants create of %s a few seconds after it first offers it; waiting for the grant", export.Name)}
		}
	}
	return nil
}

// reasonWaiting is the reason of a waiting request's condition and Event.
const reasonWaiting = "Waiting"

// waitFor leaves the request Pending with what it waits for. The Event
// tells of a new wait only: a request retried while it waits for the same
// thing already says so in its status.
func (r *Reconciler) waitFor(ctx context.Context, request *kubebindv1alpha1.APIServiceExportRequest, w *waiting) error {
	if !waitsFor(request, w.msg) {
		r.Recorder.Eventf(request, nil, corev1.EventTypeNormal, reasonWaiting, "Export", "%s", w.msg)
	}
	return r.setStatus(ctx, request, kubebindv1alpha1.APIServiceExportRequestPhasePending, w.msg, reasonWaiting)
}

// waitsFor reports whether the request's status already says it waits for msg.
func waitsFor(request *kubebindv1alpha1.APIServiceExportRequest, msg string) bool {
	c := conditions.Get(request, kubebindv1alpha1.APIServiceExportRequestConditionExportsReady)
	return request.Status.Phase == kubebindv1alpha1.APIServiceExportRequestPhasePending &&
		c != nil && c.Reason == reasonWaiting && c.Message == msg
}

func (r *Reconciler) setStatus(ctx context.Context, request *kubebindv1alpha1.APIServiceExportRequest, phase kubebindv1alpha1.APIServiceExportRequestPhase, msg, reason string) error {
	patch := client.MergeFrom(request.DeepCopy())
	request.Status.Phase = phase
	request.Status.TerminalMessage = ""
	switch phase {
	case kubebindv1alpha1.APIServiceExportRequestPhaseSucceeded:
		conditions.MarkTrue(request, kubebindv1alpha1.APIServiceExportRequestConditionExportsReady)
	case kubebindv1alpha1.APIServiceExportRequestPhaseFailed:
		request.Status.TerminalMessage = msg
		conditions.MarkFalse(request, kubebindv1alpha1.APIServiceExportRequestConditionExportsReady, reason, conditionsapi.ConditionSeverityError, "%s", msg)
	default:
		conditions.MarkFalse(request, kubebindv1alpha1.APIServiceExportRequestConditionExportsReady, reason, conditionsapi.ConditionSeverityInfo, "%s", msg)
	}
	conditions.SetSummary(request)
	if err := r.Client.Status().Patch(ctx, request, patch); err != nil {
		return fmt.Errorf("updating status of APIServiceExportRequest %s/%s: %w", request.Namespace, request.Name, err)
	}
	return nil
}

func findCRD(crds []apiextensionsv1.CustomResourceDefinition, group, resource string) *apiextensionsv1.CustomResourceDefinition {
	for i := range crds {
		if crds[i].Spec.Group == group && crds[i].Spec.Names.Plural == resource {
			return &crds[i]
		}
	}
	return nil
}
