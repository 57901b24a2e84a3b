package binding

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	conditionsapi "github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/apis/conditions/v1alpha1"
	"github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/util/conditions"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/contract"
	"github.com/bindery-dev/bindery/apis/kubeconfig"
	"github.com/bindery-dev/bindery/konnector/internal/provider"
)

// Finalizer keeps a binding until its objects are handled: deleted on the
// provider first, or orphaned.
const Finalizer = binderyv1alpha1.KonnectorFinalizer

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
	// limited says the binding is limited to namespaces; serving are
	// those it serves (ensureNamespaces).
	limited bool
	serving []string
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
		r.ensureNamespaces,
		r.ensureEngine,
	} {
		if err = step(ctx, st); err != nil {
			break
		}
	}
	conditions.SetSummary(b, conditions.WithConditions(readyFrom...))
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
	conn, err := r.connect(st.binding.Name, s.Data[ref.Key], kubeconfig.OptionsFor(s.Annotations))
	if err != nil {
		conditions.MarkFalse(st.binding, kubebindv1alpha1.APIServiceBindingConditionSecretValid, ReasonSecretInvalid, conditionsapi.ConditionSeverityError,
			"Secret %s/%s: %v", ref.Namespace, ref.Name, err)
		return errStop
	}
	if err := r.ensureSameProvider(ctx, st, conn); err != nil {
		return err
	}
	r.keepConn(st.binding.Name, conn)
	st.conn = conn
	conditions.MarkTrue(st.binding, kubebindv1alpha1.APIServiceBindingConditionSecretValid)
	return nil
}

// ProviderAnnotation, on an APIServiceBinding, records the provider it
// syncs with when it first connects: "<cluster namespace>@<identity>",
// where the identity is the SHA-256 of the provider's CA certificates
// ("sha256:…"), so that a provider reached at another address is the
// same one, or its API server address when the kubeconfig has no CA.
const ProviderAnnotation = "bindery.dev/provider"

// providerIdentity is what ProviderAnnotation records for conn.
func providerIdentity(conn *provider.Conn) string {
	if ca := conn.Config.TLSClientConfig.CAData; len(ca) > 0 {
		sum := sha256.Sum256(ca)
		return conn.Namespace + "@sha256:" + hex.EncodeToString(sum[:8])
	}
	return conn.Namespace + "@" + conn.Host
}

// ensureSameProvider records the binding's provider, and refuses a
// kubeconfig that points at another one: switching would abandon the
// first provider's copies, still labelled as managed, and its heartbeat.
// A rotated kubeconfig of the same provider, or one with its new address,
// is fine.
func (r *Reconciler) ensureSameProvider(ctx context.Context, st *state, conn *provider.Conn) error {
	identity := providerIdentity(conn)
	recorded := st.binding.Annotations[ProviderAnnotation]
	switch {
	case recorded == identity:
		return nil
	case recorded != "":
		ref := st.binding.Spec.KubeconfigSecretRef
		conditions.MarkFalse(st.binding, kubebindv1alpha1.APIServiceBindingConditionSecretValid, ReasonProviderChanged, conditionsapi.ConditionSeverityError,
			"this binding syncs with %s, and Secret %s/%s now points at %s (%s); re-pointing it would abandon the objects there. "+
				"Unbind it and bind from the other provider; if it is the same provider with a new CA, remove the %s annotation",
			recorded, ref.Namespace, ref.Name, identity, conn.Host, ProviderAnnotation)
		return errStop
	}
	patch := client.MergeFrom(st.binding.DeepCopy())
	if st.binding.Annotations == nil {
		st.binding.Annotations = map[string]string{}
	}
	st.binding.Annotations[ProviderAnnotation] = identity
	if err := r.Client.Patch(ctx, st.binding, patch); err != nil {
		return fmt.Errorf("recording the binding's provider: %w", err)
	}
	return nil
}

// ensureConnected finds the APIServiceExport the binding binds: the one
// of its name, or the one its export annotation names.
func (r *Reconciler) ensureConnected(ctx context.Context, st *state) error {
	export := &kubebindv1alpha1.APIServiceExport{}
	name := contract.ExportOf(st.binding.Name, st.binding.Annotations)
	err := st.conn.Client.Get(ctx, client.ObjectKey{Namespace: st.conn.Namespace, Name: name}, export)
	switch {
	case apierrors.IsNotFound(err):
		conditions.MarkFalse(st.binding, kubebindv1alpha1.APIServiceBindingConditionConnected, ReasonExportNotFound, conditionsapi.ConditionSeverityError,
			"the provider has no APIServiceExport %s in namespace %s; its export request may have failed", name, st.conn.Namespace)
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
