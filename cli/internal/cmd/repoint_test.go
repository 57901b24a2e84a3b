package cmd

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindery-dev/bindery/cli/internal/bind"
	"github.com/bindery-dev/bindery/test/framework"
)

// TestSecondProviderDoesNotRepoint: binding a resource that is already
// bound from another provider fails before writing anything, naming the
// provider it is bound from, and the first provider's binding, objects and
// heartbeat are untouched.
func TestSecondProviderDoesNotRepoint(t *testing.T) {
	t.Parallel()
	first, cons, cc, res := boundEnv(t)
	second := framework.StartCluster(t, "second-provider")
	framework.ProviderSide(t, second)
	framework.ServeExportRequests(t, second)
	ctx := t.Context()
	databases := kubebindv1alpha1.GroupResource{Group: "db.example.com", Resource: "databases"}

	for _, dryRun := range []bool{true, false} {
		t.Run(fmt.Sprintf("dry run %v", dryRun), func(t *testing.T) {
			_, err := bind.Apply(ctx, response(t, second, databases), bind.ApplyOptions{Consumer: cons.Config, Timeout: time.Minute, Out: &bytes.Buffer{}, DryRun: dryRun})
			require.Error(t, err)
			assert.Contains(t, err.Error(), framework.BindingName+" is already bound from Test Provider")
			assert.Contains(t, err.Error(), "would re-point it")
			assert.Contains(t, err.Error(), "hint: keep the existing binding, or unbind it first (kubectl bind unbind "+framework.BindingName+")")
		})
	}

	t.Run("nothing was written, and the first provider still hears from the konnector", func(t *testing.T) {
		b := &kubebindv1alpha1.APIServiceBinding{}
		require.NoError(t, cc.Get(ctx, client.ObjectKey{Name: framework.BindingName}, b))
		assert.Equal(t, res.Secret, b.Spec.KubeconfigSecretRef.Name, "the binding still points at the first provider")
		secrets := &corev1.SecretList{}
		require.NoError(t, cc.List(ctx, secrets, client.InNamespace(bind.Namespace)))
		assert.Len(t, secrets.Items, 2, "the first provider's kubeconfig and the cluster key, nothing for the second")
		requests := &kubebindv1alpha1.APIServiceExportRequestList{}
		require.NoError(t, second.Client.List(ctx, requests, client.InNamespace(framework.ClusterNS)))
		assert.Empty(t, requests.Items, "no request reached the second provider")

		heartbeat := func() time.Time {
			cb := &kubebindv1alpha1.ClusterBinding{}
			require.NoError(t, first.Client.Get(ctx, client.ObjectKey{Namespace: framework.ClusterNS, Name: "cluster"}, cb))
			return cb.Status.LastHeartbeatTime.Time
		}
		before := heartbeat()
		framework.Eventually(t, func() (bool, string) {
			return heartbeat().After(before), "no heartbeat since " + before.String()
		}, framework.WaitTimeout)
	})
}
