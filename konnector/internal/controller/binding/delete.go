package binding

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	conditionsapi "github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/apis/conditions/v1alpha1"
	"github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/util/conditions"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/bindery-dev/bindery/apis/contract"
	"github.com/bindery-dev/bindery/konnector/internal/objectsync"
)

// reconcileDelete handles the binding's objects before it goes: with the
// orphan annotation it keeps the provider copies, otherwise it deletes the
// consumer objects, whose finalizers delete the provider copies first.
// Then it deletes the CRD it owns, or, when other bindings limited to
// other namespaces share it, leaves it to them with their objects.
func (r *Reconciler) reconcileDelete(ctx context.Context, st *state) (ctrl.Result, error) {
	b := st.binding
	if !controllerutil.ContainsFinalizer(b, Finalizer) {
		r.stopEngine(b.Name, true)
		return ctrl.Result{}, nil
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	err := r.Client.Get(ctx, client.ObjectKey{Name: contract.ExportOf(b.Name, b.Annotations)}, crd)
	if err == nil && ownedBy(crd, b) {
		shared := len(otherOwners(crd, b)) > 0
		// The engine must run to delete the provider copies, also after
		// a konnector restart.
		if err := r.ensureSecret(ctx, st); err != nil {
			return ctrl.Result{RequeueAfter: 10 * time.Second}, nil
		}
		if err := r.ensureConnected(ctx, st); err != nil {
			return ctrl.Result{RequeueAfter: 10 * time.Second}, nil
		}
		st.crd = crd
		if limited(b) {
			st.limited, st.serving = true, servingOf(b)
		}
		if err := r.ensureEngine(ctx, st); err != nil && !errors.Is(err, errStop) {
			return ctrl.Result{}, err
		}
		remaining, err := r.deleteObjects(ctx, crd, st)
		if err != nil {
			return ctrl.Result{}, err
		}
		if remaining > 0 {
			conditions.MarkFalse(b, conditionsapi.ReadyCondition, ReasonDeleting, conditionsapi.ConditionSeverityInfo,
				"waiting for %d object(s) to be deleted on the provider first", remaining)
			return ctrl.Result{RequeueAfter: 2 * time.Second}, nil
		}
		if shared {
			if err := r.releaseCRD(ctx, crd, b); err != nil {
				return ctrl.Result{}, err
			}
		} else if err := r.Client.Delete(ctx, crd, client.Preconditions{UID: &crd.UID}); err != nil && !apierrors.IsNotFound(err) {
			// Deleted now rather than by the garbage collector, so that
			// the resource is gone when unbind returns.
			return ctrl.Result{}, fmt.Errorf("deleting CRD %s: %w", crd.Name, err)
		}
	} else if err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, err
	}
	r.stopEngine(b.Name, true)
	if err := r.deleteClaimCopies(ctx, b.Name); err != nil {
		return ctrl.Result{}, err
	}
	// Other bindings of the resource may wait for a namespace this one
	// served.
	others, err := r.neighbours(ctx, b)
	if err != nil {
		return ctrl.Result{}, err
	}
	controllerutil.RemoveFinalizer(b, Finalizer)
	if err := r.Client.Update(ctx, b); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("removing the finalizer: %w", err)
	}
	for _, o := range others {
		r.wakeUp(o.Name)
	}
	return ctrl.Result{}, nil
}

// deleteObjects deletes the binding's objects of crd in the consumer
// cluster (every one, or those of the namespaces a limited binding
// serves) and returns how many remain; the engine releases each once its
// provider copy is gone (or at once, when orphaning).
func (r *Reconciler) deleteObjects(ctx context.Context, crd *apiextensionsv1.CustomResourceDefinition, st *state) (int, error) {
	rc := r.Consumer.Resource(storageGVR(crd))
	list, err := rc.List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, fmt.Errorf("listing %s: %w", crd.Name, err)
	}
	n := 0
	for _, o := range list.Items {
		if st.limited && !slices.Contains(st.serving, o.GetNamespace()) {
			continue // another binding's, or no binding's
		}
		n++
		if o.GetDeletionTimestamp() == nil {
			if err := rc.Namespace(o.GetNamespace()).Delete(ctx, o.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return 0, fmt.Errorf("deleting %s/%s: %w", o.GetNamespace(), o.GetName(), err)
			}
		}
	}
	return n, nil
}

// deleteClaimCopies deletes the Secrets and ConfigMaps the binding's
// permission claims copied into this cluster.
func (r *Reconciler) deleteClaimCopies(ctx context.Context, binding string) error {
	sel := labels.Set{objectsync.ClaimLabel: binding}.String()
	for _, res := range []string{"secrets", "configmaps"} {
		rc := r.Consumer.Resource(corev1.SchemeGroupVersion.WithResource(res))
		list, err := rc.List(ctx, metav1.ListOptions{LabelSelector: sel})
		if apierrors.IsForbidden(err) {
			continue // not granted, so nothing was copied
		} else if err != nil {
			return fmt.Errorf("listing the %s binding %s copied: %w", res, binding, err)
		}
		for _, o := range list.Items {
			if err := rc.Namespace(o.GetNamespace()).Delete(ctx, o.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("deleting %s %s/%s: %w", res, o.GetNamespace(), o.GetName(), err)
			}
		}
	}
	return nil
}

// keepCopies reports whether the binding carries the orphan annotation:
// its objects' provider copies are kept when the objects go.
func (r *Reconciler) keepCopies(binding string) bool {
	b := &kubebindv1alpha1.APIServiceBinding{}
	if err := r.Client.Get(context.Background(), client.ObjectKey{Name: binding}, b); err != nil {
		return false
	}
	return b.Annotations[objectsync.OrphanAnnotation] == "true"
}
