package clusterhealth_test

import (
	"fmt"
	"testing"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/util/conditions"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindery-dev/bindery/backend/internal/consumer"
	"github.com/bindery-dev/bindery/backend/internal/controller/clusterhealth"
	"github.com/bindery-dev/bindery/backend/internal/metrics"
	"github.com/bindery-dev/bindery/test/framework"
)

func TestMain(m *testing.M) { framework.Main(m) }

func TestHealth(t *testing.T) {
	t.Parallel()
	p := framework.StartControlPlane(t)
	p.RunManager(t, func(mgr ctrl.Manager) error {
		return (&clusterhealth.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("bindery-backend"), DefaultInterval: time.Minute}).SetupWithManager(mgr)
	})
	ctx := t.Context()
	c := p.Client
	p.Namespace(t, "consumer-a", map[string]string{consumer.RoleLabel: consumer.RoleCluster})
	binding := &kubebindv1alpha1.ClusterBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: "consumer-a", Name: "cluster"},
		Spec: kubebindv1alpha1.ClusterBindingSpec{
			ProviderPrettyName:  "test",
			KubeconfigSecretRef: kubebindv1alpha1.LocalSecretKeyRef{Name: "kubeconfig", Key: "kubeconfig"},
		},
	}
	require.NoError(t, c.Create(ctx, binding))

	// waitHealthy waits for the Healthy condition to reach status and
	// returns the binding.
	waitHealthy := func(status corev1.ConditionStatus, reason string) *kubebindv1alpha1.ClusterBinding {
		t.Helper()
		got := &kubebindv1alpha1.ClusterBinding{}
		framework.Eventually(t, func() (bool, string) {
			if err := c.Get(ctx, client.ObjectKeyFromObject(binding), got); err != nil {
				return false, err.Error()
			}
			cond := conditions.Get(got, kubebindv1alpha1.ClusterBindingConditionHealthy)
			if cond == nil {
				return false, "no Healthy condition"
			}
			return cond.Status == status && (reason == "" || cond.Reason == reason), fmt.Sprintf("%s %s: %s", cond.Status, cond.Reason, cond.Message)
		}, framework.WaitTimeout)
		return got
	}
	// heartbeat does what a konnector does.
	heartbeat := func(interval time.Duration) time.Time {
		t.Helper()
		got := &kubebindv1alpha1.ClusterBinding{}
		require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(binding), got))
		now := time.Now()
		got.Status.LastHeartbeatTime = metav1.NewTime(now)
		got.Status.HeartbeatInterval = metav1.Duration{Duration: interval}
		got.Status.KonnectorVersion = "v0.9.1"
		require.NoError(t, c.Status().Update(ctx, got))
		return now
	}

	t.Run("a binding without a heartbeat waits for the first one", func(t *testing.T) {
		waitHealthy(corev1.ConditionFalse, clusterhealth.ReasonFirstHeartbeatPending)
	})

	const interval = 2 * time.Second
	// Upstream's example-backend kept Healthy False with reason
	// HeartbeatTimeDrift for a fresh heartbeat from the same clock; a
	// fresh heartbeat here is Healthy.
	t.Run("heartbeats make the binding Healthy and show the konnector version", func(t *testing.T) {
		heartbeat(interval)
		got := waitHealthy(corev1.ConditionTrue, "")
		assert.Contains(t, conditions.GetMessage(got, kubebindv1alpha1.ClusterBindingConditionHealthy), "v0.9.1")
		assert.Equal(t, "v0.9.1", got.Status.KonnectorVersion)
		p.WaitEvent(t, got, "Healthy")
		assert.Equal(t, 1.0, testutil.ToFloat64(metrics.BoundConsumers.WithLabelValues("healthy")))
	})

	t.Run("a dead konnector turns Unhealthy within twice the heartbeat interval", func(t *testing.T) {
		// Keep beating for a while: the binding must stay Healthy.
		var last time.Time
		for range 4 {
			last = heartbeat(interval)
			time.Sleep(interval / 2)
		}
		waitHealthy(corev1.ConditionTrue, "")
		// Then stop, and watch for the transition.
		var detected time.Time
		framework.Eventually(t, func() (bool, string) {
			got := &kubebindv1alpha1.ClusterBinding{}
			if err := c.Get(ctx, client.ObjectKeyFromObject(binding), got); err != nil {
				return false, err.Error()
			}
			cond := conditions.Get(got, kubebindv1alpha1.ClusterBindingConditionHealthy)
			if cond != nil && cond.Status == corev1.ConditionFalse {
				detected = time.Now()
				assert.Equal(t, clusterhealth.ReasonHeartbeatTimeout, cond.Reason)
				assert.Contains(t, cond.Message, "v0.9.1")
				return true, ""
			}
			return false, "still healthy"
		}, framework.WaitTimeout)
		assert.LessOrEqual(t, detected.Sub(last), 2*interval, "Unhealthy only %s after the last heartbeat", detected.Sub(last))
		got := waitHealthy(corev1.ConditionFalse, clusterhealth.ReasonHeartbeatTimeout)
		p.WaitEvent(t, got, clusterhealth.ReasonHeartbeatTimeout)
		assert.Equal(t, 1.0, testutil.ToFloat64(metrics.BoundConsumers.WithLabelValues("unhealthy")))
	})

	t.Run("a new heartbeat makes it Healthy again", func(t *testing.T) {
		heartbeat(interval)
		waitHealthy(corev1.ConditionTrue, "")
	})
}
