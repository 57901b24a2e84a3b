package clustergrant_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindery-dev/bindery/apis/providername"
	"github.com/bindery-dev/bindery/backend/internal/consumer"
	"github.com/bindery-dev/bindery/backend/internal/controller/clustergrant"
	"github.com/bindery-dev/bindery/backend/internal/onboarding"
	"github.com/bindery-dev/bindery/backend/internal/rbacgrant"
	"github.com/bindery-dev/bindery/test/framework"
)

func TestMain(m *testing.M) { framework.Main(m) }

// TestGrantsStayCurrent: a consumer onboarded by an earlier backend, whose
// Role grants more than today's backend does, is narrowed when the backend
// starts, without binding again; a grant widened or a quota deleted by
// hand later is put back.
func TestGrantsStayCurrent(t *testing.T) {
	t.Parallel()
	p := framework.StartControlPlane(t)
	ctx := t.Context()
	c := p.Client
	res, err := onboarding.Ensure(ctx, c, providername.Consumer{Issuer: "https://idp", Subject: "alice", ClusterID: "a"}, "Test Provider")
	require.NoError(t, err)
	ns := res.Namespace
	want := rbacgrant.ClusterNamespaceRules(consumer.KubeconfigSecretName)
	wider := rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}}
	widen := func() {
		role := &rbacv1.Role{}
		require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: rbacgrant.KonnectorRoleName}, role))
		role.Rules = append(role.Rules, wider)
		require.NoError(t, c.Update(ctx, role))
	}
	narrowed := func() (bool, string) {
		role := &rbacv1.Role{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: rbacgrant.KonnectorRoleName}, role); err != nil {
			return false, err.Error()
		}
		return equality.Semantic.DeepEqual(want, role.Rules), fmt.Sprintf("rules %v", role.Rules)
	}

	// What an earlier backend granted: Events too.
	widen()
	p.RunManager(t, func(mgr ctrl.Manager) error {
		return (&clustergrant.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader()}).SetupWithManager(mgr)
	})
	framework.Eventually(t, narrowed, framework.WaitTimeout)

	t.Run("a grant widened by hand is narrowed again", func(t *testing.T) {
		widen()
		framework.Eventually(t, narrowed, framework.WaitTimeout)
	})

	t.Run("a deleted quota is put back", func(t *testing.T) {
		require.NoError(t, c.Delete(ctx, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: consumer.QuotaName}}))
		framework.Eventually(t, func() (bool, string) {
			q := &corev1.ResourceQuota{}
			err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: consumer.QuotaName}, q)
			if err != nil {
				return false, err.Error()
			}
			return equality.Semantic.DeepEqual(onboarding.Quota, q.Spec.Hard) && q.DeletionTimestamp == nil, fmt.Sprintf("hard %v", q.Spec.Hard)
		}, framework.WaitTimeout)
	})

	// A bind writes the same objects as the controller, which starts on
	// the new namespace at once: whoever creates one first, the other
	// goes on.
	t.Run("onboarding new consumers while the controller runs", func(t *testing.T) {
		for i := range 5 {
			_, err := onboarding.Ensure(ctx, c, providername.Consumer{Issuer: "https://idp", Subject: fmt.Sprint("new-", i), ClusterID: "a"}, "Test Provider")
			require.NoError(t, err)
		}
	})

	t.Run("a namespace that is not a consumer's is left alone", func(t *testing.T) {
		other := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "not-a-consumer"}}
		require.NoError(t, c.Create(ctx, other))
		role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: other.Name, Name: rbacgrant.KonnectorRoleName}, Rules: []rbacv1.PolicyRule{wider}}
		require.NoError(t, c.Create(ctx, role))
		leftAlone := func(t *testing.T) {
			t.Helper()
			got := &rbacv1.Role{}
			require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(role), got))
			require.Equal(t, []rbacv1.PolicyRule{wider}, got.Rules)
			err := c.Get(ctx, client.ObjectKey{Namespace: other.Name, Name: consumer.QuotaName}, &corev1.ResourceQuota{})
			require.True(t, apierrors.IsNotFound(err), "no quota: %v", err)
		}
		// Touch the consumer's namespace and wait for its reconcile, so
		// that the other one's, had the watch let it through, would
		// likely have happened too.
		widen()
		framework.Eventually(t, narrowed, framework.WaitTimeout)
		leftAlone(t)
		// And a reconcile of it, whatever starts one, changes nothing.
		_, err := (&clustergrant.Reconciler{Client: c, APIReader: c}).Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKey{Name: other.Name}})
		require.NoError(t, err)
		leftAlone(t)
	})
}
