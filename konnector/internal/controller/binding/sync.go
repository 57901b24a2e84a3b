package binding

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	conditionsapi "github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/apis/conditions/v1alpha1"
	"github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/util/conditions"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/contract"
	apicrds "github.com/bindery-dev/bindery/apis/crds"
	"github.com/bindery-dev/bindery/apis/crdsnapshot"
	"github.com/bindery-dev/bindery/apis/isolation"
	"github.com/bindery-dev/bindery/konnector/internal/objectsync"
	"github.com/bindery-dev/bindery/konnector/internal/provider"
)

// Finalizer keeps a binding until its objects are handled: deleted on the
// provider first, or orphaned.
const Finalizer = binderyv1alpha1.KonnectorFinalizer

// Condition reasons.
const (
	ReasonSecretMissing        = "SecretMissing"
	ReasonSecretInvalid        = "SecretInvalid"
	ReasonUnreachable          = "ProviderUnreachable"
	ReasonExportNotFound       = "ExportNotFound"
	ReasonForeignCRD           = "ForeignCRD"
	ReasonConflict             = "Conflict"
	ReasonNotEstablished       = "CRDNotEstablished"
	ReasonIsolationUnsupported = "IsolationUnsupported"
	ReasonNoClusterBinding     = "ClusterBindingNotFound"
)

// errStop ends a reconcile after a condition explains why; the binding is
// retried on the next change or timer.
var errStop = errors.New("stop")

// state is what one reconcile learns, step by step.
type state struct {
	binding *kubebindv1alpha1.APIServiceBinding
	secret  *corev1.Secret
	conn    *provider.Conn
	export  *kubebindv1alpha1.APIServiceExport
	crd     *apiextensionsv1.CustomResourceDefinition
	// interval is the heartbeat interval in use.
	interval time.Duration
	// retry, when set, is how soon to come back for a short wait.
	retry time.Duration
	// wasConnected is the Connected condition before this reconcile.
	wasConnected bool
}

// Reconcile runs the binding's steps in order, each setting its condition.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	b := &kubebindv1alpha1.APIServiceBinding{}
	if err := r.Client.Get(ctx, req.NamespacedName, b); err != nil {
		if apierrors.IsNotFound(err) {
			r.stopEngine(req.Name, true)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	before := b.DeepCopy()
	st := &state{binding: b, interval: r.HeartbeatInterval,
		wasConnected: conditions.IsTrue(b, kubebindv1alpha1.APIServiceBindingConditionConnected)}

	if !b.DeletionTimestamp.IsZero() {
		res, err := r.reconcileDelete(ctx, st)
		return res, errors.Join(err, r.patchStatus(ctx, before, b))
	}
	if controllerutil.AddFinalizer(b, Finalizer) {
		if err := r.Client.Update(ctx, b); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding finalizer: %w", err)
		}
		before = b.DeepCopy()
	}

	var err error
	for _, step := range []func(context.Context, *state) error{
		r.ensureSecret,
		r.ensureConnected,
		r.ensureHeartbeat,
		r.ensureCRD,
		r.ensureEngine,
	} {
		if err = step(ctx, st); err != nil {
			break
		}
	}
	conditions.SetSummary(b)
	if perr := r.patchStatus(ctx, before, b); perr != nil {
		return ctrl.Result{}, perr
	}
	if err != nil && !errors.Is(err, errStop) {
		return ctrl.Result{}, err
	}
	// Come back for the next heartbeat, or sooner while not connected.
	next := st.interval / 2
	if !conditions.IsTrue(b, kubebindv1alpha1.APIServiceBindingConditionConnected) {
		next = min(next, 10*time.Second)
	}
	if st.retry > 0 {
		next = min(next, st.retry)
	}
	return ctrl.Result{RequeueAfter: next}, nil
}

func (r *Reconciler) patchStatus(ctx context.Context, before, b *kubebindv1alpha1.APIServiceBinding) error {
	if equality.Semantic.DeepEqual(before.Status, b.Status) {
		return nil
	}
	if err := r.Client.Status().Patch(ctx, b, client.MergeFrom(before)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("updating binding status: %w", err)
	}
	return nil
}

// ensureSecret reads the provider kubeconfig the binding references.
func (r *Reconciler) ensureSecret(ctx context.Context, st *state) error {
	ref := st.binding.Spec.KubeconfigSecretRef
	s := &corev1.Secret{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, s); apierrors.IsNotFound(err) {
		conditions.MarkFalse(st.binding, kubebindv1alpha1.APIServiceBindingConditionSecretValid, ReasonSecretMissing, conditionsapi.ConditionSeverityError,
			"Secret %s/%s with the provider kubeconfig does not exist; run kubectl bind again", ref.Namespace, ref.Name)
		return errStop
	} else if err != nil {
		return fmt.Errorf("getting Secret %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	if len(s.Data[ref.Key]) == 0 {
		conditions.MarkFalse(st.binding, kubebindv1alpha1.APIServiceBindingConditionSecretValid, ReasonSecretInvalid, conditionsapi.ConditionSeverityError,
			"Secret %s/%s has no key %q", ref.Namespace, ref.Name, ref.Key)
		return errStop
	}
	st.secret = s
	conn, err := r.connect(st.binding.Name, s.Data[ref.Key], provider.OptionsFor(s))
	if err != nil {
		conditions.MarkFalse(st.binding, kubebindv1alpha1.APIServiceBindingConditionSecretValid, ReasonSecretInvalid, conditionsapi.ConditionSeverityError,
			"Secret %s/%s: %v", ref.Namespace, ref.Name, err)
		return errStop
	}
	st.conn = conn
	conditions.MarkTrue(st.binding, kubebindv1alpha1.APIServiceBindingConditionSecretValid)
	return nil
}

// ensureConnected finds the APIServiceExport of the binding's name.
func (r *Reconciler) ensureConnected(ctx context.Context, st *state) error {
	export := &kubebindv1alpha1.APIServiceExport{}
	err := st.conn.Client.Get(ctx, client.ObjectKey{Namespace: st.conn.Namespace, Name: st.binding.Name}, export)
	switch {
	case apierrors.IsNotFound(err):
		conditions.MarkFalse(st.binding, kubebindv1alpha1.APIServiceBindingConditionConnected, ReasonExportNotFound, conditionsapi.ConditionSeverityError,
			"the provider has no APIServiceExport %s in namespace %s; its export request may have failed", st.binding.Name, st.conn.Namespace)
		return errStop
	case err != nil:
		conditions.MarkFalse(st.binding, kubebindv1alpha1.APIServiceBindingConditionConnected, ReasonUnreachable, conditionsapi.ConditionSeverityError,
			"cannot reach the provider at %s: %v", st.conn.Host, err)
		return errStop
	}
	st.export = export
	conditions.MarkTrue(st.binding, kubebindv1alpha1.APIServiceBindingConditionConnected)
	return nil
}

// ensureHeartbeat writes the heartbeat into the provider's ClusterBinding
// and copies a rotated kubeconfig from the provider into the binding's
// Secret.
func (r *Reconciler) ensureHeartbeat(ctx context.Context, st *state) error {
	cb := &kubebindv1alpha1.ClusterBinding{}
	if err := st.conn.Client.Get(ctx, client.ObjectKey{Namespace: st.conn.Namespace, Name: "cluster"}, cb); err != nil {
		conditions.MarkFalse(st.binding, kubebindv1alpha1.APIServiceBindingConditionHeartbeating, ReasonNoClusterBinding, conditionsapi.ConditionSeverityWarning,
			"cannot read the ClusterBinding in %s: %v", st.conn.Namespace, err)
		return nil // syncing does not depend on it
	}
	st.binding.Status.ProviderPrettyName = cb.Spec.ProviderPrettyName
	if d, ok := requestedInterval(cb); ok {
		st.interval = d
	}
	now := time.Now()
	if cb.Status.LastHeartbeatTime.IsZero() || now.Sub(cb.Status.LastHeartbeatTime.Time) >= st.interval/2 ||
		cb.Status.KonnectorVersion != r.Version || cb.Status.HeartbeatInterval.Duration != st.interval {
		cb.Status.LastHeartbeatTime = metav1.NewTime(now)
		cb.Status.HeartbeatInterval = metav1.Duration{Duration: st.interval}
		cb.Status.KonnectorVersion = r.Version
		if err := st.conn.Client.Status().Update(ctx, cb); err != nil && !apierrors.IsConflict(err) {
			conditions.MarkFalse(st.binding, kubebindv1alpha1.APIServiceBindingConditionHeartbeating, "HeartbeatFailed", conditionsapi.ConditionSeverityWarning,
				"cannot write the heartbeat: %v", err)
			return nil
		}
	}
	conditions.MarkTrue(st.binding, kubebindv1alpha1.APIServiceBindingConditionHeartbeating)

	// Credential rotation: the provider renews the kubeconfig in the
	// Secret its ClusterBinding references.
	ref := cb.Spec.KubeconfigSecretRef
	if ref.Name == "" {
		return nil
	}
	fresh := &corev1.Secret{}
	if err := st.conn.Client.Get(ctx, client.ObjectKey{Namespace: st.conn.Namespace, Name: ref.Name}, fresh); err != nil {
		return nil // kube-bind backends may not allow it
	}
	key := st.binding.Spec.KubeconfigSecretRef.Key
	if data := fresh.Data[ref.Key]; len(data) > 0 && !bytes.Equal(data, st.secret.Data[key]) {
		if _, err := provider.Connect(data, provider.OptionsFor(st.secret), r.Limits); err != nil {
			return nil // never replace a working kubeconfig with a broken one
		}
		patch := client.MergeFrom(st.secret.DeepCopy())
		st.secret.Data[key] = data
		if err := r.Client.Patch(ctx, st.secret, patch); err != nil {
			return fmt.Errorf("storing the rotated kubeconfig: %w", err)
		}
		r.Recorder.Eventf(st.binding, nil, corev1.EventTypeNormal, "CredentialsRotated", "Rotate", "Picked up the provider's renewed kubeconfig")
	}
	return nil
}

// requestedInterval reads the heartbeat interval a provider asks for in
// the ClusterBinding's serviceProviderSpec ({"heartbeatInterval":"30s"}).
func requestedInterval(cb *kubebindv1alpha1.ClusterBinding) (time.Duration, bool) {
	if len(cb.Spec.ServiceProviderSpec.Raw) == 0 {
		return 0, false
	}
	var spec struct {
		HeartbeatInterval metav1.Duration `json:"heartbeatInterval"`
	}
	if err := json.Unmarshal(cb.Spec.ServiceProviderSpec.Raw, &spec); err != nil || spec.HeartbeatInterval.Duration < time.Second {
		return 0, false
	}
	return spec.HeartbeatInterval.Duration, true
}

// ensureCRD creates or updates the CRD from the export's snapshot. A CRD
// this binding does not own is never touched.
func (r *Reconciler) ensureCRD(ctx context.Context, st *state) error {
	desired, err := crdsnapshot.ToCRD(st.export.Name, &st.export.Spec.APIServiceExportCRDSpec)
	if err != nil {
		conditions.MarkFalse(st.binding, kubebindv1alpha1.APIServiceBindingConditionSchemaInSync, "InvalidExport", conditionsapi.ConditionSeverityError, "%v", err)
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
		if owner.UID != st.binding.UID {
			conditions.MarkFalse(st.binding, kubebindv1alpha1.APIServiceBindingConditionSchemaInSync, ReasonConflict, conditionsapi.ConditionSeverityError,
				"CRD %s is already bound by APIServiceBinding %s; two providers cannot serve the same resource. Unbind one of them", desired.Name, owner.Name)
			return errStop
		}
		if !equality.Semantic.DeepEqual(existing.Spec.Versions, desired.Spec.Versions) || !equality.Semantic.DeepEqual(existing.Spec.Names, desired.Spec.Names) {
			existing.Spec.Versions = desired.Spec.Versions
			existing.Spec.Names = desired.Spec.Names
			if err := r.Client.Update(ctx, existing); err != nil {
				conditions.MarkFalse(st.binding, kubebindv1alpha1.APIServiceBindingConditionSchemaInSync, "UpdateRefused", conditionsapi.ConditionSeverityError,
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

// ensureEngine starts the binding's sync engine, or restarts it when the
// provider connection, the served version or the export's settings
// changed.
func (r *Reconciler) ensureEngine(_ context.Context, st *state) error {
	hasStatus := false
	for _, v := range st.crd.Spec.Versions {
		if v.Storage {
			hasStatus = v.Subresources != nil && v.Subresources.Status != nil
		}
	}
	gvr := storageGVR(st.crd)
	settings, err := contract.ReadExport(st.export.Annotations)
	if err != nil {
		conditions.MarkFalse(st.binding, conditionsapi.ReadyCondition, "InvalidExport", conditionsapi.ConditionSeverityError, "the export: %v", err)
		return errStop
	}
	strategy, err := isolation.For(st.crd.Spec.Scope, st.export.Spec.ClusterScopedIsolation)
	if err != nil {
		return err // ensureCRD refused it already
	}
	if st.crd.Spec.Scope == apiextensionsv1.ClusterScoped {
		// Claims and namespace scopes concern namespaced objects.
		settings = contract.ExportSettings{}
	}
	// Restart the engine whenever what it was started with changes.
	key := strings.Join([]string{st.conn.ID, gvr.String(), fmt.Sprint(hasStatus), settings.Key(), string(strategy.Mode())}, "|")
	name := st.binding.Name
	if !st.wasConnected {
		// The provider is back after an outage. A fresh engine lists
		// again at once, where the old one's informers and retries
		// would wait out their backoff (up to a minute).
		r.stopEngine(name, false)
	}
	r.startEngine(name, key, objectsync.Options{
		Name: name, GVR: gvr, HasStatus: hasStatus,
		Claims: settings.Claims, Namespaces: settings.Namespaces,
		Consumer: r.Consumer, Provider: st.conn.Dynamic,
		ClusterNamespace: st.conn.Namespace, ClusterID: r.ClusterID,
		Isolation:  strategy,
		KeepCopies: func() bool { return r.keepCopies(name) },
		Released:   func() { r.wakeIfDeleting(name) },
		Recorder:   r.Recorder, Workers: r.SyncWorkers,
		Log: r.Log.WithValues("binding", name),
	})
	return nil
}

// reconcileDelete handles the binding's objects before it goes: with the
// orphan annotation it keeps the provider copies, otherwise it deletes the
// consumer objects, whose finalizers delete the provider copies first.
// Then it deletes the CRD it owns.
func (r *Reconciler) reconcileDelete(ctx context.Context, st *state) (ctrl.Result, error) {
	b := st.binding
	if !controllerutil.ContainsFinalizer(b, Finalizer) {
		r.stopEngine(b.Name, true)
		return ctrl.Result{}, nil
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	err := r.Client.Get(ctx, client.ObjectKey{Name: b.Name}, crd)
	if err == nil && metav1.IsControlledBy(crd, b) {
		// The engine must run to delete the provider copies, also after
		// a konnector restart.
		if err := r.ensureSecret(ctx, st); err != nil {
			return ctrl.Result{RequeueAfter: 10 * time.Second}, nil
		}
		if err := r.ensureConnected(ctx, st); err != nil {
			return ctrl.Result{RequeueAfter: 10 * time.Second}, nil
		}
		st.crd = crd
		if err := r.ensureEngine(ctx, st); err != nil {
			return ctrl.Result{}, err
		}
		remaining, err := r.deleteObjects(ctx, crd)
		if err != nil {
			return ctrl.Result{}, err
		}
		if remaining > 0 {
			conditions.MarkFalse(b, conditionsapi.ReadyCondition, "Deleting", conditionsapi.ConditionSeverityInfo,
				"waiting for %d object(s) to be deleted on the provider first", remaining)
			return ctrl.Result{RequeueAfter: 2 * time.Second}, nil
		}
		// Delete the CRD now rather than waiting for the garbage
		// collector, so that the resource is gone when unbind returns.
		if err := r.Client.Delete(ctx, crd, client.Preconditions{UID: &crd.UID}); err != nil && !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("deleting CRD %s: %w", crd.Name, err)
		}
	} else if err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, err
	}
	r.stopEngine(b.Name, true)
	if err := r.deleteClaimCopies(ctx, b.Name); err != nil {
		return ctrl.Result{}, err
	}
	controllerutil.RemoveFinalizer(b, Finalizer)
	if err := r.Client.Update(ctx, b); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("removing the finalizer: %w", err)
	}
	return ctrl.Result{}, nil
}

// deleteObjects deletes every object of crd in the consumer cluster and
// returns how many remain; the engine releases each once its provider
// copy is gone (or at once, when orphaning).
func (r *Reconciler) deleteObjects(ctx context.Context, crd *apiextensionsv1.CustomResourceDefinition) (int, error) {
	rc := r.Consumer.Resource(storageGVR(crd))
	list, err := rc.List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, fmt.Errorf("listing %s: %w", crd.Name, err)
	}
	for _, o := range list.Items {
		if o.GetDeletionTimestamp() == nil {
			if err := rc.Namespace(o.GetNamespace()).Delete(ctx, o.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return 0, fmt.Errorf("deleting %s/%s: %w", o.GetNamespace(), o.GetName(), err)
			}
		}
	}
	return len(list.Items), nil
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
