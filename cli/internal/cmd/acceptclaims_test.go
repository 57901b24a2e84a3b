package cmd

import (
	"testing"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/util/conditions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/contract"
	"github.com/bindery-dev/bindery/konnector/deploy"
	"github.com/bindery-dev/bindery/test/framework"
)

// TestAcceptClaims: a provider that asks for more related objects after
// the bind gets them only once the user accepts, with kubectl bind
// accept-claims, and the konnector's grant follows.
func TestAcceptClaims(t *testing.T) {
	t.Parallel()
	prov, cons, cc, _ := boundEnv(t)
	ctx := t.Context()
	kubeconfig := []string{"--kubeconfig", cons.Kubeconfig}
	name := framework.BindingName

	t.Run("nothing to accept", func(t *testing.T) {
		out, err := run(t, append(kubeconfig, "accept-claims", name)...)
		require.NoError(t, err, out)
		assert.Contains(t, out, "Nothing to accept")
	})

	conn := binderyv1alpha1.PermissionClaim{Resource: "secrets", Direction: binderyv1alpha1.ClaimProviderToConsumer,
		Selector: binderyv1alpha1.ClaimSelector{Names: []string{"conn"}}}
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		x := &kubebindv1alpha1.APIServiceExport{}
		if err := prov.Client.Get(ctx, client.ObjectKey{Namespace: framework.ClusterNS, Name: name}, x); err != nil {
			return err
		}
		if x.Annotations == nil {
			x.Annotations = map[string]string{}
		}
		require.NoError(t, contract.ExportSettings{Claims: []binderyv1alpha1.PermissionClaim{conn}}.WriteExport(x.Annotations))
		return prov.Client.Update(ctx, x)
	}))
	claimsAccepted := func(want corev1.ConditionStatus) {
		framework.Eventually(t, func() (bool, string) {
			b := &kubebindv1alpha1.APIServiceBinding{}
			if err := cc.Get(ctx, client.ObjectKey{Name: name}, b); err != nil {
				return false, err.Error()
			}
			c := conditions.Get(b, "ClaimsAccepted")
			if c == nil {
				return false, "no ClaimsAccepted condition"
			}
			return c.Status == want, string(c.Status) + " " + c.Message
		}, framework.WaitTimeout)
	}
	claimsAccepted(corev1.ConditionFalse)
	accepted := func() []binderyv1alpha1.PermissionClaim {
		b := &kubebindv1alpha1.APIServiceBinding{}
		require.NoError(t, cc.Get(ctx, client.ObjectKey{Name: name}, b))
		s, err := contract.ReadBinding(b.Annotations)
		require.NoError(t, err)
		return s.AcceptedClaims
	}
	grantsSecrets := func() bool {
		cr := &rbacv1.ClusterRole{}
		require.NoError(t, cc.Get(ctx, client.ObjectKey{Name: deploy.ClusterRoleName}, cr))
		for _, r := range cr.Rules {
			for _, res := range r.Resources {
				if res == "secrets" && len(r.APIGroups) == 1 && r.APIGroups[0] == "" {
					return true
				}
			}
		}
		return false
	}

	t.Run("shows what is new and asks; no accepts nothing", func(t *testing.T) {
		out, err := run(t, append(kubeconfig, "accept-claims", name)...)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "not accepted")
		assert.Contains(t, out, "+ secrets named conn, from the provider to your cluster")
		assert.Empty(t, accepted())
		assert.False(t, grantsSecrets(), "the konnector is not granted Secrets")
	})

	t.Run("--yes records the claims and grants the konnector their kind", func(t *testing.T) {
		out, err := run(t, append(kubeconfig, "accept-claims", name, "--yes")...)
		require.NoError(t, err, out)
		assert.Contains(t, out, "Accepted")
		assert.Equal(t, []binderyv1alpha1.PermissionClaim{conn}, accepted())
		assert.True(t, grantsSecrets())
		claimsAccepted(corev1.ConditionTrue)
	})
}
