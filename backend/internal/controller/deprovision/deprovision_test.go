package deprovision_test

import (
	"testing"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindery-dev/bindery/apis/providername"
	"github.com/bindery-dev/bindery/backend/internal/controller/deprovision"
	"github.com/bindery-dev/bindery/backend/internal/onboarding"
	"github.com/bindery-dev/bindery/test/framework"
)

func TestMain(m *testing.M) { framework.Main(m) }

// TestUnboundConsumersAreDeprovisioned checks that a consumer cluster with
// no binding left loses its namespace and grants after the grace period,
// and that one with a binding keeps them.
func TestUnboundConsumersAreDeprovisioned(t *testing.T) {
	t.Parallel()
	p := framework.StartControlPlane(t)
	ctx := t.Context()
	const after = 3 * time.Second
	bound, err := onboarding.Ensure(ctx, p.Client, providername.Consumer{Issuer: "https://idp", Subject: "alice", ClusterID: "c1"}, "Test")
	require.NoError(t, err)
	request := &kubebindv1alpha1.APIServiceExportRequest{
		ObjectMeta: metav1.ObjectMeta{Namespace: bound.Namespace, Name: "postgres"},
		Spec: kubebindv1alpha1.APIServiceExportRequestSpec{Resources: []kubebindv1alpha1.APIServiceExportRequestResource{
			{GroupResource: kubebindv1alpha1.GroupResource{Group: "db.example.com", Resource: "databases"}},
		}},
	}
	require.NoError(t, p.Client.Create(ctx, request))
	unbound, err := onboarding.Ensure(ctx, p.Client, providername.Consumer{Issuer: "https://idp", Subject: "bob", ClusterID: "c2"}, "Test")
	require.NoError(t, err)

	p.RunManager(t, func(mgr ctrl.Manager) error {
		return (&deprovision.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("bindery-backend"), After: after}).SetupWithManager(mgr)
	})

	gone := func(t *testing.T, namespace string) {
		t.Helper()
		framework.Eventually(t, func() (bool, string) {
			ns := &corev1.Namespace{}
			err := p.Client.Get(ctx, client.ObjectKey{Name: namespace}, ns)
			return apierrors.IsNotFound(err) || ns.DeletionTimestamp != nil, "namespace " + namespace + " is still there"
		}, framework.WaitTimeout)
		framework.Eventually(t, func() (bool, string) {
			err := p.Client.Get(ctx, client.ObjectKey{Name: onboarding.ClusterRoleName(namespace)}, &rbacv1.ClusterRole{})
			return apierrors.IsNotFound(err), "its ClusterRole is still there"
		}, framework.WaitTimeout)
	}

	t.Run("a consumer without bindings is deprovisioned after the grace period", func(t *testing.T) {
		start := time.Now()
		gone(t, unbound.Namespace)
		assert.GreaterOrEqual(t, time.Since(start), after-time.Second, "not before the grace period")
	})

	t.Run("a consumer with a binding keeps its namespace", func(t *testing.T) {
		// The unbound consumer is gone, so the controller has run past the
		// grace period for both.
		ns := &corev1.Namespace{}
		require.NoError(t, p.Client.Get(ctx, client.ObjectKey{Name: bound.Namespace}, ns))
		assert.Nil(t, ns.DeletionTimestamp)
		assert.NotContains(t, ns.Annotations, deprovision.UnusedSinceAnnotation)
	})

	t.Run("once its last binding goes, it is deprovisioned too", func(t *testing.T) {
		require.NoError(t, p.Client.Delete(ctx, request))
		gone(t, bound.Namespace)
	})
}
