package binding

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	conditionsapi "github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/apis/conditions/v1alpha1"
	"github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/util/conditions"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindery-dev/bindery/apis/kubeconfig"
	"github.com/bindery-dev/bindery/konnector/internal/provider"
)

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
			conditions.MarkFalse(st.binding, kubebindv1alpha1.APIServiceBindingConditionHeartbeating, ReasonHeartbeatFailed, conditionsapi.ConditionSeverityWarning,
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
		if _, err := provider.Connect(data, kubeconfig.OptionsFor(st.secret.Annotations), r.Limits); err != nil {
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
