package servicenamespace

// What claims select. A claim by label selector or by reference is
// granted by name what it selects in a service namespace now: the backend
// follows the labels of the claimable objects there, and the references
// the consumer's exported objects hold, with one cache of both, and lists
// what it granted on the APIServiceNamespace for the konnector.

import (
	"context"
	"fmt"
	"slices"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/contract"
	"github.com/bindery-dev/bindery/apis/providername"
	"github.com/bindery-dev/bindery/backend/internal/consumer"
	"github.com/bindery-dev/bindery/backend/internal/rbacgrant"
)

// NewClaimableCache returns the cache Reconciler.Claimable needs, added to
// mgr: the metadata of claimable objects, and exported objects without
// their status; never managed fields.
func NewClaimableCache(mgr ctrl.Manager) (cache.Cache, error) {
	strip := cache.TransformStripManagedFields()
	c, err := cache.New(mgr.GetConfig(), cache.Options{
		Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(), HTTPClient: mgr.GetHTTPClient(),
		DefaultTransform: func(obj any) (any, error) {
			if u, ok := obj.(*unstructured.Unstructured); ok {
				delete(u.Object, "status")
			}
			return strip(obj)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("creating the cache of claimable objects: %w", err)
	}
	if err := mgr.Add(c); err != nil {
		return nil, fmt.Errorf("running the cache of claimable objects: %w", err)
	}
	return c, nil
}

// watchReferences watches, once, the exported objects of gvk, whose
// references claims read: a new object, one whose spec changed, or one
// gone may change what a claim selects in its own service namespace and
// in the one it points to (referencedBy).
func (r *Reconciler) watchReferences(gvk schema.GroupVersionKind) error {
	r.watchedMu.Lock()
	defer r.watchedMu.Unlock()
	if r.watched == nil {
		r.watched = sets.New[schema.GroupVersionKind]()
	}
	if r.watched.Has(gvk) {
		return nil
	}
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(gvk)
	// An update maps the old object and the new one: a reference moved
	// to another namespace changes the grants of both.
	affected := handler.TypedEnqueueRequestsFromMapFunc(func(ctx context.Context, obj *unstructured.Unstructured) []reconcile.Request {
		return r.referencedBy(ctx, obj)
	})
	if err := r.controller.Watch(source.Kind(r.Claimable, obj, affected, predicate.TypedGenerationChangedPredicate[*unstructured.Unstructured]{})); err != nil {
		return fmt.Errorf("watching %s for the references claims read: %w", gvk.Kind, err)
	}
	r.watched.Insert(gvk)
	return nil
}

// referencedBy returns the APIServiceNamespaces whose claims an exported
// object may change: its own service namespace's and, for each claim of
// its consumer's exports that reads a namespace from the object, the one
// of the consumer namespace it names. Only those: a consumer's other
// namespaces do not read this object.
func (r *Reconciler) referencedBy(ctx context.Context, obj *unstructured.Unstructured) []reconcile.Request {
	own := r.inServiceNamespace(ctx, obj.GetNamespace())
	if len(own) == 0 {
		return nil
	}
	clusterNS := own[0].Namespace
	exports := &kubebindv1alpha1.APIServiceExportList{}
	if err := r.Client.List(ctx, exports, client.InNamespace(clusterNS)); err != nil {
		return own
	}
	gvk := obj.GroupVersionKind()
	out := own
	for _, e := range exports.Items {
		if e.Spec.Group != gvk.Group || e.Spec.Names.Kind != gvk.Kind {
			continue
		}
		settings, err := contract.ReadExport(e.Annotations)
		if err != nil {
			continue // the export's own reconcile reports it
		}
		for _, c := range settings.Claims {
			ref := c.Selector.Reference
			if ref == nil || ref.NamespacePath == "" || !contract.HeldBy(*ref, e.Spec.Group, e.Spec.Names.Plural) {
				continue
			}
			if ns, _ := contract.Referenced(obj.Object, *ref); ns != "" {
				out = append(out, reconcile.Request{NamespacedName: client.ObjectKey{Namespace: clusterNS, Name: ns}})
			}
		}
	}
	return out
}

// inServiceNamespace returns the APIServiceNamespace of namespace ns, if
// it is a service namespace.
func (r *Reconciler) inServiceNamespace(ctx context.Context, ns string) []reconcile.Request {
	n := &corev1.Namespace{}
	if err := r.Client.Get(ctx, client.ObjectKey{Name: ns}, n); err != nil || n.Labels[consumer.RoleLabel] != consumer.RoleService {
		return nil
	}
	return ofServiceNamespace(n)
}

// claimableObject is the metadata of an object of a claimable core
// resource.
func claimableObject(resource string) *metav1.PartialObjectMetadata {
	kind := "Secret"
	if resource == "configmaps" {
		kind = "ConfigMap"
	}
	obj := &metav1.PartialObjectMetadata{}
	obj.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(kind))
	return obj
}

// selectClaimed resolves the claims of the exports that select
// (contract.Selects) into claims of the names they select in the service
// namespace now (rbacgrant.SelectClaimed).
func (r *Reconciler) selectClaimed(ctx context.Context, sns *kubebindv1alpha1.APIServiceNamespace, target string, exports []rbacgrant.Export) (out []rbacgrant.Export, selected []string, selects bool, err error) {
	objects := &serviceObjects{r: r, ctx: ctx, sns: sns, namespace: target, exports: exports}
	for _, e := range exports {
		claims, sel, s, err := rbacgrant.SelectClaimed(e, objects)
		if err != nil {
			return nil, nil, false, fmt.Errorf("export of %s: %w", e.Resource, err)
		}
		e.Claims = claims
		out = append(out, e)
		selected = append(selected, sel...)
		selects = selects || s
	}
	slices.Sort(selected)
	return out, slices.Compact(selected), selects, nil
}

// serviceObjects answer, from the claimable cache, what claims select in
// one service namespace.
type serviceObjects struct {
	r         *Reconciler
	ctx       context.Context
	sns       *kubebindv1alpha1.APIServiceNamespace
	namespace string
	exports   []rbacgrant.Export
}

// Labelled lists the claimable objects whose labels sel matches. A kind
// the backend may not read selects nothing, and says so; the rest of the
// grant goes ahead.
func (o *serviceObjects) Labelled(resource string, sel labels.Selector) ([]string, error) {
	r := o.r
	if r.Claimable == nil || !slices.Contains(r.ClaimableResources, resource) {
		r.Recorder.Eventf(o.sns, nil, corev1.EventTypeWarning, "ClaimNotGranted", "Grant",
			"A permission claim selects %s by label, which the backend may not list and watch; it is granted nothing. Add %s to the backend chart's claimedResources", resource, resource)
		return nil, nil
	}
	obj, l := claimableObject(resource), &metav1.PartialObjectMetadataList{}
	l.SetGroupVersionKind(obj.GroupVersionKind().GroupVersion().WithKind(obj.Kind + "List"))
	if err := r.Claimable.List(o.ctx, l, client.InNamespace(o.namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, fmt.Errorf("listing %s in %s: %w", resource, o.namespace, err)
	}
	names := make([]string, 0, len(l.Items))
	for _, i := range l.Items {
		names = append(names, i.Name)
	}
	return names, nil
}

// cacheSyncTimeout bounds the wait for a first list of exported objects.
const cacheSyncTimeout = time.Minute

// Referenced lists the names the exported objects of group/resource hold
// at the reference's path for this namespace, watching those objects from
// now on: the objects of this service namespace or, when the reference
// names a namespace too, the consumer's objects in any of its service
// namespaces that point to this one.
func (o *serviceObjects) Referenced(group, resource string, ref binderyv1alpha1.ClaimReference) ([]string, error) {
	r := o.r
	if r.Claimable == nil {
		return nil, nil
	}
	var gvk schema.GroupVersionKind
	for _, e := range o.exports {
		if e.Group == group && e.Resource == resource {
			gvk = schema.GroupVersionKind{Group: group, Version: e.Version, Kind: e.Kind}
		}
	}
	if gvk.Kind == "" {
		return nil, nil
	}
	if err := r.watchReferences(gvk); err != nil {
		return nil, err
	}
	// The consumer namespace of each service namespace to look in.
	consumerNS := map[string]string{o.namespace: o.sns.Name}
	if ref.NamespacePath != "" {
		all := &kubebindv1alpha1.APIServiceNamespaceList{}
		if err := r.Client.List(o.ctx, all, client.InNamespace(o.sns.Namespace)); err != nil {
			return nil, fmt.Errorf("listing APIServiceNamespaces: %w", err)
		}
		for _, s := range all.Items {
			consumerNS[providername.ServiceNamespace(s.Namespace, s.Name)] = s.Name
		}
	}
	// A first list waits for the cache to fill; one the backend may not
	// make (the chart's exportedResources) fails instead of waiting on.
	ctx, cancel := context.WithTimeout(o.ctx, cacheSyncTimeout)
	defer cancel()
	var names []string
	for svc, cns := range consumerNS {
		l := &unstructured.UnstructuredList{}
		l.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := r.Claimable.List(ctx, l, client.InNamespace(svc)); err != nil {
			return nil, fmt.Errorf("listing %s in %s: %w", resource, svc, err)
		}
		for _, i := range l.Items {
			ns, name := contract.Referenced(i.Object, ref)
			if ns == "" {
				ns = cns // the object's own, as a consumer namespace
			}
			if name != "" && ns == o.sns.Name {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// ensureSelectedNames publishes on the APIServiceNamespace what its claims
// select (contract.SelectedNamesAnnotation), for the konnector to watch
// each by name.
func (r *Reconciler) ensureSelectedNames(ctx context.Context, sns *kubebindv1alpha1.APIServiceNamespace, selected []string, selects bool) error {
	want := contract.JoinSelected(selected)
	got, has := sns.Annotations[contract.SelectedNamesAnnotation]
	if has == selects && got == want {
		return nil
	}
	patch := client.MergeFrom(sns.DeepCopy())
	if selects {
		metav1.SetMetaDataAnnotation(&sns.ObjectMeta, contract.SelectedNamesAnnotation, want)
	} else {
		delete(sns.Annotations, contract.SelectedNamesAnnotation)
	}
	if err := r.Client.Patch(ctx, sns, patch); err != nil {
		return fmt.Errorf("publishing what the claims of %s select: %w", sns.Name, err)
	}
	return nil
}
