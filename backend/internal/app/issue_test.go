package app_test

import (
	"testing"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindery-dev/bindery/backend/internal/app"
	"github.com/bindery-dev/bindery/backend/internal/auth/session"
	"github.com/bindery-dev/bindery/backend/internal/options"
	"github.com/bindery-dev/bindery/backend/internal/scheme"
	"github.com/bindery-dev/bindery/test/framework"
)

// TestIssueKubeconfig onboards a consumer without a login, as an operator
// does for CI/CD, and checks that the kubeconfig reaches the consumer's
// own namespace and nothing else.
func TestIssueKubeconfig(t *testing.T) {
	t.Parallel()
	p := framework.StartCluster(t, "provider")
	o := app.Options{Controllers: options.NewControllers(), Server: options.NewServer()}
	o.Controllers.ProviderPrettyName = "Acme"
	kubeconfig, err := app.IssueKubeconfig(t.Context(), p.Config, o, "ci-pipeline", "cluster-42")
	require.NoError(t, err)

	cc, err := clientcmd.NewClientConfigFromBytes(kubeconfig)
	require.NoError(t, err)
	ns, _, err := cc.Namespace()
	require.NoError(t, err)
	cfg, err := cc.ClientConfig()
	require.NoError(t, err)
	c, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	require.NoError(t, err)
	cb := &kubebindv1alpha1.ClusterBinding{}
	require.NoError(t, c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "cluster"}, cb), "the consumer reads its ClusterBinding")
	assert.Equal(t, "Acme", cb.Spec.ProviderPrettyName)
	err = c.List(t.Context(), &corev1.SecretList{}, client.InNamespace("kube-system"))
	assert.True(t, apierrors.IsForbidden(err), "and nothing of others: %v", err)

	again, err := app.IssueKubeconfig(t.Context(), p.Config, o, "ci-pipeline", "cluster-42")
	require.NoError(t, err)
	cc2, err := clientcmd.NewClientConfigFromBytes(again)
	require.NoError(t, err)
	ns2, _, _ := cc2.Namespace()
	assert.Equal(t, ns, ns2, "issuing again for the same cluster is idempotent")
}

// TestRotateKeys rotates the cookie keys in a real keys Secret: backends
// started afterwards sign with new keys and still accept the previous ones.
func TestRotateKeys(t *testing.T) {
	t.Parallel()
	p := framework.StartCluster(t, "provider")
	ctx := t.Context()
	c, err := client.New(p.Config, client.Options{Scheme: scheme.Scheme})
	require.NoError(t, err)
	require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bindery-system"}}))
	old, err := session.LoadOrCreateKeys(ctx, c, "bindery-system", "bindery-backend-keys")
	require.NoError(t, err)
	require.NoError(t, app.RotateKeys(ctx, p.Config, "bindery-system", "bindery-backend-keys"))
	keys, err := session.LoadOrCreateKeys(ctx, c, "bindery-system", "bindery-backend-keys")
	require.NoError(t, err)
	assert.NotEqual(t, old.Signing, keys.Signing)
	require.NotNil(t, keys.Previous)
	assert.Equal(t, old.Signing, keys.Previous.Signing)
	assert.WithinDuration(t, time.Now().Add(session.MaxLifetime), keys.PreviousUntil, time.Minute)

	err = app.RotateKeys(ctx, p.Config, "bindery-system", "no-such-secret")
	assert.ErrorContains(t, err, "reading Secret bindery-system/no-such-secret")
}
