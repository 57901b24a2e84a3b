// Package clusterobjects lets konnectors sync cluster-scoped resources
// without seeing each other's objects. RBAC cannot limit create by name,
// nor list and watch by label, so:
//
//   - an admission policy (rbacgrant.ClusterObjectPolicy) lets a konnector
//     create and update only objects labelled with its own cluster
//     namespace and, under Prefixed isolation, named with it;
//   - a per-consumer ClusterRole grants create on the resource and every
//     other verb on the names of the objects that carry the consumer's
//     label, kept up to date as objects come and go.
//
// Under Namespaced isolation the provider's resource is namespaced and a
// consumer's objects live in its cluster namespace: a Role there grants
// them, and neither the policy nor the by-name grant is needed.
//
// When a consumer's cluster namespace is deleted, its cluster-scoped objects
// are deleted too: no owner reference can tie a cluster-scoped object to a
// namespace.
//
// The controller watches the APIServiceExports and the metadata of every
// cluster-scoped exported resource.
package clusterobjects

import (
	"context"
	"fmt"
	"slices"
	gosync "sync"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/bindery-dev/bindery/apis/contract"
	"github.com/bindery-dev/bindery/apis/isolation"
	"github.com/bindery-dev/bindery/backend/internal/consumer"
	"github.com/bindery-dev/bindery/backend/internal/onboarding"
	"github.com/bindery-dev/bindery/backend/internal/rbacgrant"
)

// policyKey is the request that reconciles the admission policy; no
// namespace can have this name.
const policyKey = "#policy"

// NamespacedRoleName is the Role (and RoleBinding), in a consumer's cluster
// namespace, for its objects of resources exported with Namespaced
// isolation.
const NamespacedRoleName = "bindery:konnector:objects"

// RoleName is the per-consumer ClusterRole (and ClusterRoleBinding) for
// its cluster-scoped objects.
func RoleName(clusterNamespace string) string {
	return "bindery:konnector:" + clusterNamespace + ":objects"
}

// Reconciler keeps the admission policy and the per-consumer grants of
// cluster-scoped objects.
type Reconciler struct {
	Client client.Client
	Cache  cache.Cache
	// APIReader reads without a cache, to count what a cluster namespace's
	// objects quota limits; mgr.GetAPIReader().
	APIReader client.Reader
	// MaxObjectsPerNamespace bounds a consumer's objects of each
	// cluster-scoped exported resource whose service has no bound of its
	// own: under Namespaced isolation with a ResourceQuota in its cluster
	// namespace, otherwise by withdrawing create at the bound; 0 means no
	// bound.
	MaxObjectsPerNamespace int

	controller controller.Controller
	mu         gosync.Mutex
	watched    map[schema.GroupVersionKind]bool
	// enforced holds, per resource, since when the admission policy
	// covers it: when this process first wrote it so, or, for a policy an
	// earlier process left, that policy's last write. Create is granted
	// only policyGrace later, once every API server has loaded the policy.
	enforced map[schema.GroupResource]time.Time
	// policyKnown is whether this process has reconciled the policy, and
	// so knows enforced.
	policyKnown bool
}

// policyGrace is how long after the admission policy covers a resource
// konnectors get create on it: API servers load policies about once a
// second.
const policyGrace = 3 * time.Second

// SetupWithManager wires the reconciler.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.watched = map[schema.GroupVersionKind]bool{}
	r.enforced = map[schema.GroupResource]time.Time{}
	c, err := ctrl.NewControllerManagedBy(mgr).
		Named("clusterobjects").
		Watches(&kubebindv1alpha1.APIServiceExport{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj client.Object) []reconcile.Request {
			return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: policyKey}}, {NamespacedName: client.ObjectKey{Name: obj.GetNamespace()}}}
		})).
		Build(r)
	r.controller = c
	return err
}

// Reconcile ensures the policy, or one consumer's grant.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if req.Name == policyKey {
		return r.ensurePolicy(ctx)
	}
	return r.ensureGrant(ctx, req.Name)
}

// clusterScoped returns the exports whose copies are granted by name and
// checked by the admission policy (isolation.ByName), in one namespace or
// (namespace "") in all.
func (r *Reconciler) clusterScoped(ctx context.Context, namespace string) ([]kubebindv1alpha1.APIServiceExport, error) {
	all, err := r.clusterScopedForConsumers(ctx, namespace)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(e kubebindv1alpha1.APIServiceExport) bool { return grantOf(e).Scope != isolation.ByName }), nil
}

// grantOf is how the export's isolation strategy grants its copies; an
// unsupported mode gets no grant.
func grantOf(e kubebindv1alpha1.APIServiceExport) isolation.Grant {
	s, err := isolation.For(e.Spec.Scope, e.Spec.ClusterScopedIsolation)
	if err != nil {
		return isolation.Grant{}
	}
	return s.Grant()
}

// clusterScopedForConsumers returns the exports that are cluster-scoped
// for consumers, whatever their isolation.
func (r *Reconciler) clusterScopedForConsumers(ctx context.Context, namespace string) ([]kubebindv1alpha1.APIServiceExport, error) {
	list := &kubebindv1alpha1.APIServiceExportList{}
	if err := r.Client.List(ctx, list, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("listing APIServiceExports: %w", err)
	}
	var out []kubebindv1alpha1.APIServiceExport
	for _, e := range list.Items {
		if e.Spec.Scope == apiextensionsv1.ClusterScoped && e.DeletionTimestamp == nil {
			out = append(out, e)
		}
	}
	return out, nil
}

// ensurePolicy keeps the admission policy in line with all exports whose
// isolation asks for it.
func (r *Reconciler) ensurePolicy(ctx context.Context) (ctrl.Result, error) {
	exports, err := r.clusterScoped(ctx, "")
	if err != nil {
		return ctrl.Result{}, err
	}
	byGR := map[schema.GroupResource]*rbacgrant.PolicyResource{}
	for _, e := range exports {
		gr := schema.GroupResource{Group: e.Spec.Group, Resource: e.Spec.Names.Plural}
		pr := byGR[gr]
		if pr == nil {
			pr = &rbacgrant.PolicyResource{Group: gr.Group, Resource: gr.Resource, Prefixed: true}
			byGR[gr] = pr
		}
		for _, v := range e.Spec.Versions {
			if v.Served && !slices.Contains(pr.Versions, v.Name) {
				pr.Versions = append(pr.Versions, v.Name)
			}
		}
		// Names are checked for the prefix unless an export offers
		// the resource without one.
		pr.Prefixed = pr.Prefixed && grantOf(e).Prefixed
	}
	var resources []rbacgrant.PolicyResource
	for _, pr := range byGR {
		resources = append(resources, *pr)
	}
	policy, binding := rbacgrant.ClusterObjectPolicy(consumer.ClusterNamespaceLabel, resources)
	if policy == nil {
		for _, obj := range []client.Object{
			&admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: rbacgrant.ClusterObjectPolicyName}},
			&admissionregistrationv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: rbacgrant.ClusterObjectPolicyName}},
		} {
			if err := r.Client.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
				return ctrl.Result{}, fmt.Errorf("deleting the cluster-scoped objects policy: %w", err)
			}
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.enforced, r.policyKnown = map[schema.GroupResource]time.Time{}, true
		return ctrl.Result{}, nil
	}
	// What the policy in force, if any, covered before this write, and
	// since when: an earlier backend's, after a restart.
	var inForce map[schema.GroupResource]time.Time
	existing := &admissionregistrationv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: policy.Name}}
	if _, err := controllerutil.CreateOrUpdate(ctx, r.Client, existing, func() error {
		if existing.ResourceVersion != "" {
			inForce = coveredSince(existing)
		}
		existing.Spec = policy.Spec
		return nil
	}); err != nil {
		return ctrl.Result{}, fmt.Errorf("ensuring ValidatingAdmissionPolicy %s: %w", policy.Name, err)
	}
	existingBinding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: binding.Name}}
	if _, err := controllerutil.CreateOrUpdate(ctx, r.Client, existingBinding, func() error {
		if existingBinding.ResourceVersion == "" {
			inForce = nil // a policy without its binding checks nothing
		}
		for gr, since := range inForce {
			inForce[gr] = later(since, lastWrite(&existingBinding.ObjectMeta))
		}
		existingBinding.Spec = binding.Spec
		return nil
	}); err != nil {
		return ctrl.Result{}, fmt.Errorf("ensuring ValidatingAdmissionPolicyBinding %s: %w", binding.Name, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	enforced := map[schema.GroupResource]time.Time{}
	for gr := range byGR {
		if since, ok := r.enforced[gr]; ok {
			enforced[gr] = since
		} else if since, ok := inForce[gr]; ok {
			// Covered before this process wrote the policy: a restart
			// does not withdraw create for another grace.
			enforced[gr] = since
		} else {
			enforced[gr] = time.Now()
		}
	}
	// A resource the policy no longer covers starts its grace again
	// when it comes back.
	r.enforced, r.policyKnown = enforced, true
	return ctrl.Result{}, nil
}

// coveredSince returns the resources a policy in the cluster covers, each
// since the policy's last write. The time is the API server's: a backend
// whose clock runs ahead of it shortens the grace by as much, for a
// policy written in the last seconds.
func coveredSince(p *admissionregistrationv1.ValidatingAdmissionPolicy) map[schema.GroupResource]time.Time {
	out := map[schema.GroupResource]time.Time{}
	if p.Spec.MatchConstraints == nil {
		return out
	}
	written := lastWrite(&p.ObjectMeta)
	for _, rule := range p.Spec.MatchConstraints.ResourceRules {
		for _, g := range rule.APIGroups {
			for _, res := range rule.Resources {
				out[schema.GroupResource{Group: g, Resource: res}] = written
			}
		}
	}
	return out
}

// lastWrite is when an object was last written, as far as its metadata
// tells: its creation or its managers' latest write.
func lastWrite(m *metav1.ObjectMeta) time.Time {
	t := m.CreationTimestamp.Time
	for _, f := range m.ManagedFields {
		if f.Time != nil {
			t = later(t, f.Time.Time)
		}
	}
	return t
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// knowsPolicy reports whether this process has reconciled the policy.
func (r *Reconciler) knowsPolicy() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.policyKnown
}

// creatable reports whether konnectors may create gr's objects yet, and
// if not, how long to wait.
func (r *Reconciler) creatable(gr schema.GroupResource) (bool, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	since, ok := r.enforced[gr]
	if !ok {
		return false, time.Second
	}
	if wait := policyGrace - time.Since(since); wait > 0 {
		return false, wait
	}
	return true, 0
}

// ensureGrant keeps one consumer's ClusterRole for its cluster-scoped
// objects: create on each resource, the rest on the names it owns.
func (r *Reconciler) ensureGrant(ctx context.Context, clusterNamespace string) (ctrl.Result, error) {
	ns := &corev1.Namespace{}
	if err := r.Client.Get(ctx, client.ObjectKey{Name: clusterNamespace}, ns); err != nil {
		if apierrors.IsNotFound(err) {
			// The grant is owned by the namespace and went with it.
			return ctrl.Result{}, r.collect(ctx, clusterNamespace)
		}
		return ctrl.Result{}, fmt.Errorf("getting namespace %s: %w", clusterNamespace, err)
	}
	if ns.DeletionTimestamp != nil {
		return ctrl.Result{}, r.collect(ctx, clusterNamespace)
	}
	if ns.Labels[consumer.RoleLabel] != consumer.RoleCluster {
		return ctrl.Result{}, nil
	}
	all, err := r.clusterScopedForConsumers(ctx, clusterNamespace)
	if err != nil {
		return ctrl.Result{}, err
	}
	var namespaced, exports []kubebindv1alpha1.APIServiceExport
	for _, e := range all {
		switch grantOf(e).Scope {
		case isolation.InClusterNamespace:
			namespaced = append(namespaced, e)
		case isolation.ByName:
			exports = append(exports, e)
		}
	}
	// The bound first, then the grant: no object goes uncounted.
	if err := r.ensureObjectsQuota(ctx, clusterNamespace, namespaced); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.ensureNamespacedGrant(ctx, clusterNamespace, namespaced); err != nil {
		return ctrl.Result{}, err
	}
	name := RoleName(clusterNamespace)
	if len(exports) > 0 && !r.knowsPolicy() {
		// Until then, a grant written now would withdraw create from
		// a consumer that has it, as if its resources were offered
		// for the first time.
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	if len(exports) == 0 {
		for _, obj := range []client.Object{
			&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}},
			&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}},
		} {
			if err := r.Client.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
				return ctrl.Result{}, fmt.Errorf("deleting the cluster-scoped objects grant of %s: %w", clusterNamespace, err)
			}
		}
		return ctrl.Result{}, nil
	}
	var result ctrl.Result
	var resources []rbacgrant.ClusterResource
	for _, e := range exports {
		gvk, ok := kindOf(&e)
		if !ok {
			continue
		}
		if err := r.watch(gvk); err != nil {
			return ctrl.Result{}, err
		}
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := r.Client.List(ctx, list, client.MatchingLabels{consumer.ClusterNamespaceLabel: clusterNamespace}); err != nil {
			return ctrl.Result{}, fmt.Errorf("listing %s of %s: %w", e.Name, clusterNamespace, err)
		}
		cr := rbacgrant.ClusterResource{Group: e.Spec.Group, Resource: e.Spec.Names.Plural}
		if ok, wait := r.creatable(schema.GroupResource{Group: cr.Group, Resource: cr.Resource}); ok {
			// A ResourceQuota cannot count cluster-scoped objects: create
			// is withdrawn while the consumer has as many as it may, and
			// given back when one goes (this watch sees both).
			limit, err := r.bound(&e)
			if err != nil {
				return ctrl.Result{}, err
			}
			cr.Create = limit == 0 || len(list.Items) < limit
		} else if result.RequeueAfter == 0 || wait < result.RequeueAfter {
			result.RequeueAfter = wait
		}
		for _, o := range list.Items {
			cr.Names = append(cr.Names, o.Name)
		}
		resources = append(resources, cr)
	}
	owner := metav1.OwnerReference{APIVersion: "v1", Kind: "Namespace", Name: ns.Name, UID: ns.UID}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := controllerutil.CreateOrUpdate(ctx, r.Client, role, func() error {
		role.Labels = map[string]string{consumer.ClusterNamespaceLabel: clusterNamespace}
		role.OwnerReferences = []metav1.OwnerReference{owner}
		role.Rules = rbacgrant.ClusterObjectRules(resources)
		return nil
	}); err != nil {
		return ctrl.Result{}, fmt.Errorf("ensuring ClusterRole %s: %w", name, err)
	}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := controllerutil.CreateOrUpdate(ctx, r.Client, binding, func() error {
		binding.Labels = map[string]string{consumer.ClusterNamespaceLabel: clusterNamespace}
		binding.OwnerReferences = []metav1.OwnerReference{owner}
		binding.RoleRef = rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}
		binding.Subjects = []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: clusterNamespace, Name: consumer.ServiceAccountName}}
		return nil
	}); err != nil {
		return ctrl.Result{}, fmt.Errorf("ensuring ClusterRoleBinding %s: %w", name, err)
	}
	return result, nil
}

// ensureObjectsQuota keeps the ResourceQuota that bounds the consumer's
// objects of each resource exported with Namespaced isolation in its
// cluster namespace, and deletes it when there is none or no bound.
func (r *Reconciler) ensureObjectsQuota(ctx context.Context, clusterNamespace string, exports []kubebindv1alpha1.APIServiceExport) error {
	hard, kinds := corev1.ResourceList{}, onboarding.CountedKinds{}
	for _, e := range exports {
		gvk, ok := kindOf(&e)
		if !ok {
			continue
		}
		limit, err := r.bound(&e)
		if err != nil {
			return err
		}
		if limit > 0 {
			onboarding.CountObjects(hard, kinds, gvk, e.Spec.Names.Plural, limit)
		}
	}
	return onboarding.EnsureObjectsQuota(ctx, r.Client, r.APIReader, clusterNamespace, hard, kinds)
}

// bound is the bound on a consumer's objects of an export's resource: its
// service's own, else MaxObjectsPerNamespace; 0 means none.
func (r *Reconciler) bound(e *kubebindv1alpha1.APIServiceExport) (int, error) {
	settings, err := contract.ReadExport(e.Annotations)
	if err != nil {
		return 0, fmt.Errorf("export %s/%s: %w", e.Namespace, e.Name, err)
	}
	return settings.Bound(r.MaxObjectsPerNamespace), nil
}

// ensureNamespacedGrant keeps the Role in the cluster namespace for the
// resources exported with Namespaced isolation, and deletes it when there
// are none.
func (r *Reconciler) ensureNamespacedGrant(ctx context.Context, clusterNamespace string, exports []kubebindv1alpha1.APIServiceExport) error {
	if len(exports) == 0 {
		for _, obj := range []client.Object{
			&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: clusterNamespace, Name: NamespacedRoleName}},
			&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: clusterNamespace, Name: NamespacedRoleName}},
		} {
			if err := r.Client.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("deleting the namespaced objects grant of %s: %w", clusterNamespace, err)
			}
		}
		return nil
	}
	grants := make([]rbacgrant.Export, 0, len(exports))
	for _, e := range exports {
		grants = append(grants, rbacgrant.Export{Group: e.Spec.Group, Resource: e.Spec.Names.Plural})
	}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: clusterNamespace, Name: NamespacedRoleName}}
	if _, err := controllerutil.CreateOrUpdate(ctx, r.Client, role, func() error {
		role.Rules = rbacgrant.ServiceNamespaceRules(grants)
		return nil
	}); err != nil {
		return fmt.Errorf("ensuring Role %s/%s: %w", clusterNamespace, NamespacedRoleName, err)
	}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: clusterNamespace, Name: NamespacedRoleName}}
	if _, err := controllerutil.CreateOrUpdate(ctx, r.Client, binding, func() error {
		binding.RoleRef = rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: NamespacedRoleName}
		binding.Subjects = []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: clusterNamespace, Name: consumer.ServiceAccountName}}
		return nil
	}); err != nil {
		return fmt.Errorf("ensuring RoleBinding %s/%s: %w", clusterNamespace, NamespacedRoleName, err)
	}
	return nil
}

// collect deletes the cluster-scoped objects of a consumer whose cluster
// namespace is gone or going: those labelled with it, of every kind some
// cluster-scoped export offers or this process watches. Each deletion is
// seen by the kind's watch, which calls collect again until none is left.
func (r *Reconciler) collect(ctx context.Context, clusterNamespace string) error {
	exports, err := r.clusterScoped(ctx, "")
	if err != nil {
		return err
	}
	kinds := map[schema.GroupVersionKind]bool{}
	for _, e := range exports {
		if gvk, ok := kindOf(&e); ok {
			kinds[gvk] = true
		}
	}
	r.mu.Lock()
	for gvk := range r.watched {
		kinds[gvk] = true
	}
	r.mu.Unlock()
	log := ctrl.LoggerFrom(ctx)
	for gvk := range kinds {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := r.Client.List(ctx, list, client.MatchingLabels{consumer.ClusterNamespaceLabel: clusterNamespace}); err != nil {
			if meta.IsNoMatchError(err) {
				continue // the CRD is gone, and its objects with it
			}
			return fmt.Errorf("listing %s of removed consumer %s: %w", gvk.Kind, clusterNamespace, err)
		}
		for i := range list.Items {
			o := &list.Items[i]
			if o.DeletionTimestamp != nil {
				continue
			}
			if err := r.Client.Delete(ctx, o, client.Preconditions{UID: &o.UID}); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				return fmt.Errorf("deleting %s %s of removed consumer %s: %w", gvk.Kind, o.Name, clusterNamespace, err)
			}
			log.Info("Deleted a cluster-scoped object of a removed consumer", "kind", gvk.Kind, "name", o.Name, "clusterNamespace", clusterNamespace)
		}
	}
	return nil
}

// kindOf returns the export's kind at a served version.
func kindOf(e *kubebindv1alpha1.APIServiceExport) (schema.GroupVersionKind, bool) {
	for _, v := range e.Spec.Versions {
		if v.Served {
			return schema.GroupVersionKind{Group: e.Spec.Group, Version: v.Name, Kind: e.Spec.Names.Kind}, true
		}
	}
	return schema.GroupVersionKind{}, false
}

// watch starts, once per kind, a metadata watch of its objects that
// reconciles the grant of the consumer named in their label.
func (r *Reconciler) watch(gvk schema.GroupVersionKind) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.watched[gvk] {
		return nil
	}
	obj := &metav1.PartialObjectMetadata{}
	obj.SetGroupVersionKind(gvk)
	byOwner := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		if ns := o.GetLabels()[consumer.ClusterNamespaceLabel]; ns != "" {
			return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: ns}}}
		}
		return nil
	})
	if err := r.controller.Watch(source.Kind[client.Object](r.Cache, obj, byOwner)); err != nil {
		return fmt.Errorf("watching %s: %w", gvk, err)
	}
	r.watched[gvk] = true
	return nil
}
