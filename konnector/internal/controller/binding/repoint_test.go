package binding_test

import (
	"strings"
	"testing"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindery-dev/bindery/konnector/internal/controller/binding"
	"github.com/bindery-dev/bindery/test/framework"
)

// TestBindingNeverRepoints: a binding records the provider it syncs with,
// and a kubeconfig that points elsewhere (here, another cluster namespace
// of the same API server) is refused with a condition that says what to
// do, until the kubeconfig points back.
func TestBindingNeverRepoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	waitCondition(t, e.cc, e.binding.Name, "Ready", corev1.ConditionTrue, "")
	b := &kubebindv1alpha1.APIServiceBinding{}
	require.NoError(t, e.cc.Get(ctx, client.ObjectKey{Name: e.binding.Name}, b))
	recorded := b.Annotations[binding.ProviderAnnotation]
	assert.True(t, strings.HasPrefix(recorded, framework.ClusterNS+"@sha256:"), "the cluster namespace and the provider's CA: %s", recorded)

	setKubeconfig := func(raw []byte) {
		require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
			s := &corev1.Secret{}
			if err := e.cc.Get(ctx, client.ObjectKey{Namespace: "kube-bind", Name: "provider-kubeconfig"}, s); err != nil {
				return err
			}
			s.Data["kubeconfig"] = raw
			return e.cc.Update(ctx, s)
		}))
	}
	original := framework.ProviderKubeconfig(t, e.prov)
	cfg, err := clientcmd.Load(original)
	require.NoError(t, err)
	cfg.Contexts[cfg.CurrentContext].Namespace = "someone-else"
	elsewhere, err := clientcmd.Write(*cfg)
	require.NoError(t, err)

	setKubeconfig(elsewhere)
	msg := waitCondition(t, e.cc, e.binding.Name, "SecretValid", corev1.ConditionFalse, binding.ReasonProviderChanged)
	assert.Contains(t, msg, "this binding syncs with "+recorded)
	assert.Contains(t, msg, "now points at someone-else@")
	assert.Contains(t, msg, "Unbind it and bind from the other provider")
	waitCondition(t, e.cc, e.binding.Name, "Ready", corev1.ConditionFalse, binding.ReasonProviderChanged)
	require.NoError(t, e.cc.Get(ctx, client.ObjectKey{Name: e.binding.Name}, b))
	assert.Equal(t, recorded, b.Annotations[binding.ProviderAnnotation], "the recorded provider stays")

	setKubeconfig(original)
	waitCondition(t, e.cc, e.binding.Name, "Ready", corev1.ConditionTrue, "")
}
