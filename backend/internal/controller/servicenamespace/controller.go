// Package servicenamespace gives each consumer namespace a namespace on the
// control plane: for every APIServiceNamespace a konnector creates in its
// cluster namespace, it creates the provider namespace, grants the
// consumer's ServiceAccount the exported resources and claimed objects in
// that namespace only, and removes both when the APIServiceNamespace goes.
package servicenamespace

import (
	"context"
	"fmt"
	"sync"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/contract"
	"github.com/bindery-dev/bindery/apis/providername"
	"github.com/bindery-dev/bindery/backend/internal/consumer"
	"github.com/bindery-dev/bindery/backend/internal/metrics"
	"github.com/bindery-dev/bindery/backend/internal/onboarding"
	"github.com/bindery-dev/bindery/backend/internal/rbacgrant"
)

// Reconciler reconciles APIServiceNamespaces.
type Reconciler struct {
	Client client.Client
	// APIReader reads without a cache, to count what a service namespace's
	// quota limits; mgr.GetAPIReader().
	APIReader client.Reader
	Recorder  events.EventRecorder
	// Claimable caches the metadata of the kinds in ClaimableResources,
	// and the exported objects that claims by reference read, so that
	// grants follow what claims select in service namespaces as it
	// changes (NewClaimableCache). Without it, such claims select nothing.
	Claimable          cache.Cache
	ClaimableResources []string
	// MaxObjectsPerNamespace bounds the objects of each namespaced
	// exported resource in one service namespace (its quota), unless the
	// export's service has its own bound; 0 means no bound.
	MaxObjectsPerNamespace int

	controller controller.Controller
	// watched are the exported kinds whose objects are watched for the
	// references claims read.
	watchedMu sync.Mutex
	watched   sets.Set[schema.GroupVersionKind]
}

// SetupWithManager wires the reconciler: a change of the exports in a
// cluster namespace changes the grants of all its service namespaces, and
// a service namespace that finishes terminating releases its
// APIServiceNamespace.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	allInNamespace := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		return r.requestsIn(ctx, obj.GetNamespace())
	})
	byServiceNamespace := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj client.Object) []reconcile.Request {
		return ofServiceNamespace(obj)
	})
	b := ctrl.NewControllerManagedBy(mgr).
		Named("servicenamespace").
		For(&kubebindv1alpha1.APIServiceNamespace{}).
		Watches(&kubebindv1alpha1.APIServiceExport{}, allInNamespace).
		Watches(&corev1.Namespace{}, byServiceNamespace)
	if r.Claimable != nil {
		// A claimable object that appears, goes or changes its labels in
		// a service namespace may change what a claim selects there.
		inServiceNamespace := handler.TypedEnqueueRequestsFromMapFunc(func(ctx context.Context, obj *metav1.PartialObjectMetadata) []reconcile.Request {
			return r.inServiceNamespace(ctx, obj.Namespace)
		})
		for _, resource := range r.ClaimableResources {
			b = b.WatchesRawSource(source.Kind(r.Claimable, claimableObject(resource), inServiceNamespace, predicate.TypedLabelChangedPredicate[*metav1.PartialObjectMetadata]{}))
		}
	}
	c, err := b.Build(r)
	r.controller = c
	return err
}

// ofServiceNamespace returns the APIServiceNamespace of a service
// namespace.
func ofServiceNamespace(ns client.Object) []reconcile.Request {
	clusterNS, consumerNS := ns.GetLabels()[consumer.ClusterNamespaceLabel], ns.GetAnnotations()[consumer.ConsumerNamespaceAnnotation]
	if clusterNS == "" || consumerNS == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: clusterNS, Name: consumerNS}}}
}

func (r *Reconciler) requestsIn(ctx context.Context, namespace string) []reconcile.Request {
	list := &kubebindv1alpha1.APIServiceNamespaceList{}
	if err := r.Client.List(ctx, list, client.InNamespace(namespace)); err != nil {
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return out
}

// Reconcile ensures or removes one service namespace and its grant.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	sns := &kubebindv1alpha1.APIServiceNamespace{}
	if err := r.Client.Get(ctx, req.NamespacedName, sns); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	clusterNS := &corev1.Namespace{}
	if err := r.Client.Get(ctx, client.ObjectKey{Name: sns.Namespace}, clusterNS); err != nil {
		return ctrl.Result{}, fmt.Errorf("getting cluster namespace %s: %w", sns.Namespace, err)
	}
	if clusterNS.Labels[consumer.RoleLabel] != consumer.RoleCluster {
		// Not a consumer's: nothing is granted, and nothing is held.
		r.Recorder.Eventf(sns, nil, corev1.EventTypeWarning, "Ignored", "Bind", "namespace %s is not a consumer cluster namespace", sns.Namespace)
		return ctrl.Result{}, nil
	}
	target := providername.ServiceNamespace(sns.Namespace, sns.Name)

	if sns.DeletionTimestamp != nil {
		return r.reconcileDelete(ctx, sns, target)
	}
	if controllerutil.AddFinalizer(sns, consumer.ServiceNamespaceFinalizer) {
		if err := r.Client.Update(ctx, sns); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding finalizer: %w", err)
		}
	}
	exports, err := r.exportsFor(ctx, sns)
	if err != nil {
		return ctrl.Result{}, err
	}
	exports, selected, selects, err := r.selectClaimed(ctx, sns, target, exports)
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := r.ensureNamespace(ctx, clusterNS, sns, target, exports); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.ensureGrant(ctx, sns, target, exports); err != nil {
		return ctrl.Result{}, err
	}
	// What claims select is published once it is granted.
	if err := r.ensureSelectedNames(ctx, sns, selected, selects); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.ensureNamespaceReader(ctx, sns.Namespace); err != nil {
		return ctrl.Result{}, err
	}
	if sns.Status.Namespace != target {
		patch := client.MergeFrom(sns.DeepCopy())
		sns.Status.Namespace = target
		if err := r.Client.Status().Patch(ctx, sns, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("setting status.namespace: %w", err)
		}
		r.Recorder.Eventf(sns, nil, corev1.EventTypeNormal, "Bound", "Bind", "Consumer namespace %s is namespace %s on the provider", sns.Name, target)
	}
	return ctrl.Result{}, nil
}

func (r *Reconciler) ensureNamespace(ctx context.Context, clusterNS *corev1.Namespace, sns *kubebindv1alpha1.APIServiceNamespace, target string, exports []rbacgrant.Export) error {
	var claims []binderyv1alpha1.PermissionClaim
	for _, e := range exports {
		claims = append(claims, e.Claims...)
	}
	claimable := rbacgrant.ClaimableNames(claims)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: target}}
	_, err := controllerutil.CreateOrPatch(ctx, r.Client, ns, func() error {
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		if ns.Annotations == nil {
			ns.Annotations = map[string]string{}
		}
		if owner := ns.Labels[consumer.ClusterNamespaceLabel]; owner != "" && owner != sns.Namespace {
			return fmt.Errorf("namespace %s belongs to consumer %s", target, owner)
		}
		ns.Labels[consumer.RoleLabel] = consumer.RoleService
		ns.Labels[consumer.ClusterNamespaceLabel] = sns.Namespace
		ns.Annotations[consumer.ConsumerNamespaceAnnotation] = sns.Name
		delete(ns.Annotations, rbacgrant.ClaimableNamesAnnotation)
		if claimable != "" {
			ns.Annotations[rbacgrant.ClaimableNamesAnnotation] = claimable
		}
		for _, k := range []string{consumer.IssuerAnnotation, consumer.SubjectAnnotation, consumer.ClusterIDAnnotation} {
			if v, ok := clusterNS.Annotations[k]; ok {
				ns.Annotations[k] = v
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ensuring service namespace %s: %w", target, err)
	}
	if err := r.ensurePolicies(ctx); err != nil {
		return err
	}
	if err := onboarding.EnsureQuota(ctx, r.Client, r.APIReader, target, consumer.QuotaName, onboarding.ServiceQuota, nil); err != nil {
		return err
	}
	hard, kinds := objectsQuota(exports)
	return onboarding.EnsureObjectsQuota(ctx, r.Client, r.APIReader, target, hard, kinds)
}

// objectsQuota is what a service namespace's objects quota bounds: the
// objects of each namespaced exported resource that has a bound.
func objectsQuota(exports []rbacgrant.Export) (corev1.ResourceList, onboarding.CountedKinds) {
	hard, kinds := corev1.ResourceList{}, onboarding.CountedKinds{}
	for _, e := range exports {
		if e.Namespaced && e.MaxObjects > 0 {
			gvk := schema.GroupVersionKind{Group: e.Group, Version: e.Version, Kind: e.Kind}
			onboarding.CountObjects(hard, kinds, gvk, e.Resource, e.MaxObjects)
		}
	}
	return hard, kinds
}

// ensurePolicies creates the admission policies of Bindery's namespaces,
// and their bindings, before a consumer can write Secrets or ConfigMaps in
// a service namespace: no service-account token Secrets, and a konnector
// writes only its claim copies. One that was changed (by hand, or by an
// older backend) is put back. The check reads from the cache and compares
// only what Bindery sets, leaving the API server's defaults alone, so a
// reconcile costs no API call once they are right.
func (r *Reconciler) ensurePolicies(ctx context.Context) error {
	tokenPolicy, tokenBinding := rbacgrant.TokenSecretPolicy(consumer.RoleLabel)
	copyPolicy, copyBinding := rbacgrant.ClaimCopyPolicy(consumer.RoleLabel, binderyv1alpha1.ClaimedByLabel)
	return rbacgrant.EnsureAdmission(ctx, r.Client, tokenPolicy, tokenBinding, copyPolicy, copyBinding)
}

// exportsFor returns what the grants of a service namespace need of the
// exports of its cluster namespace that apply to its consumer namespace.
func (r *Reconciler) exportsFor(ctx context.Context, sns *kubebindv1alpha1.APIServiceNamespace) ([]rbacgrant.Export, error) {
	exports := &kubebindv1alpha1.APIServiceExportList{}
	if err := r.Client.List(ctx, exports, client.InNamespace(sns.Namespace)); err != nil {
		return nil, fmt.Errorf("listing exports: %w", err)
	}
	var grants []rbacgrant.Export
	for _, e := range exports.Items {
		settings, err := contract.ReadExport(e.Annotations)
		if err != nil {
			return nil, fmt.Errorf("export %s: %w", e.Name, err)
		}
		if !settings.Covers(sns.Name) {
			continue
		}
		grants = append(grants, rbacgrant.Export{Group: e.Spec.Group, Resource: e.Spec.Names.Plural, Claims: settings.Claims,
			Version: storageVersion(&e), Kind: e.Spec.Names.Kind, Namespaced: e.Spec.Scope == apiextensionsv1.NamespaceScoped,
			MaxObjects: settings.Bound(r.MaxObjectsPerNamespace)})
	}
	return grants, nil
}

// storageVersion is the version an export's objects are stored in.
func storageVersion(e *kubebindv1alpha1.APIServiceExport) string {
	for _, v := range e.Spec.Versions {
		if v.Storage {
			return v.Name
		}
	}
	if len(e.Spec.Versions) > 0 {
		return e.Spec.Versions[0].Name
	}
	return ""
}

// ensureGrant binds the consumer's ServiceAccount to a Role in the
// service namespace covering the exports of its cluster namespace that
// apply to this consumer namespace.
func (r *Reconciler) ensureGrant(ctx context.Context, sns *kubebindv1alpha1.APIServiceNamespace, target string, grants []rbacgrant.Export) error {
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: target, Name: rbacgrant.KonnectorRoleName}}
	if _, err := controllerutil.CreateOrPatch(ctx, r.Client, role, func() error {
		role.Rules = rbacgrant.ServiceNamespaceRules(grants)
		return nil
	}); err != nil {
		return fmt.Errorf("ensuring Role in %s: %w", target, err)
	}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: target, Name: rbacgrant.KonnectorRoleName}}
	if _, err := controllerutil.CreateOrPatch(ctx, r.Client, rb, func() error {
		rb.RoleRef = rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name}
		rb.Subjects = []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: sns.Namespace, Name: consumer.ServiceAccountName}}
		return nil
	}); err != nil {
		return fmt.Errorf("ensuring RoleBinding in %s: %w", target, err)
	}
	return nil
}

// ensureNamespaceReader keeps the consumer's namespace ClusterRole listing
// exactly its live service namespaces.
func (r *Reconciler) ensureNamespaceReader(ctx context.Context, clusterNamespace string) error {
	return onboarding.EnsureNamespaceReader(ctx, r.Client, clusterNamespace)
}

// reconcileDelete deletes the service namespace (its Role and objects go
// with it) and releases the APIServiceNamespace once the namespace is
// really gone.
func (r *Reconciler) reconcileDelete(ctx context.Context, sns *kubebindv1alpha1.APIServiceNamespace, target string) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(sns, consumer.ServiceNamespaceFinalizer) {
		return ctrl.Result{}, nil
	}
	ns := &corev1.Namespace{}
	err := r.Client.Get(ctx, client.ObjectKey{Name: target}, ns)
	switch {
	case err == nil:
		if ns.DeletionTimestamp == nil {
			if err := r.Client.Delete(ctx, ns); err != nil && !apierrors.IsNotFound(err) {
				return ctrl.Result{}, fmt.Errorf("deleting namespace %s: %w", target, err)
			}
			r.Recorder.Eventf(sns, nil, corev1.EventTypeNormal, "Deleting", "Delete", "Deleting namespace %s on the provider", target)
		}
		// The namespace watch requeues when it is gone; the timer only
		// guards against a missed event.
		return ctrl.Result{RequeueAfter: 30 * time.Second}, nil
	case !apierrors.IsNotFound(err):
		metrics.ReconcileErrors.WithLabelValues("servicenamespace").Inc()
		return ctrl.Result{}, fmt.Errorf("getting namespace %s: %w", target, err)
	}
	if err := r.ensureNamespaceReader(ctx, sns.Namespace); err != nil {
		return ctrl.Result{}, err
	}
	controllerutil.RemoveFinalizer(sns, consumer.ServiceNamespaceFinalizer)
	if err := r.Client.Update(ctx, sns); err != nil {
		return ctrl.Result{}, fmt.Errorf("removing finalizer: %w", err)
	}
	return ctrl.Result{}, nil
}
