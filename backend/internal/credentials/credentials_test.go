package credentials_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindery-dev/bindery/apis/providername"
	"github.com/bindery-dev/bindery/backend/internal/consumer"
	"github.com/bindery-dev/bindery/backend/internal/credentials"
	"github.com/bindery-dev/bindery/backend/internal/onboarding"
	"github.com/bindery-dev/bindery/test/framework"
)

func TestMain(m *testing.M) { framework.Main(m) }

func TestIssueAndRotate(t *testing.T) {
	t.Parallel()
	p := framework.StartControlPlane(t)
	ctx := t.Context()
	res, err := onboarding.Ensure(ctx, p.Client, providername.Consumer{Issuer: "https://idp", Subject: "alice", ClusterID: "c1"}, "Test")
	require.NoError(t, err)
	iss := &credentials.Issuer{Client: p.Client, Kube: p.Kube, Server: "https://provider.example.com:6443", CA: []byte("not-a-real-ca"), TTL: time.Hour}

	kubeconfig, err := iss.Issue(ctx, res.Namespace)
	require.NoError(t, err)
	kc, err := clientcmd.Load(kubeconfig)
	require.NoError(t, err)
	cluster := kc.Clusters[kc.Contexts[kc.CurrentContext].Cluster]
	assert.Equal(t, "https://provider.example.com:6443", cluster.Server, "--external-address")
	assert.Equal(t, []byte("not-a-real-ca"), cluster.CertificateAuthorityData, "--external-ca-file")
	assert.Equal(t, res.Namespace, kc.Contexts[kc.CurrentContext].Namespace)

	secret := &corev1.Secret{}
	key := client.ObjectKey{Namespace: res.Namespace, Name: consumer.KubeconfigSecretName}
	require.NoError(t, p.Client.Get(ctx, key, secret))
	issued, err := time.Parse(time.RFC3339, secret.Annotations[credentials.IssuedAnnotation])
	require.NoError(t, err)
	expires, err := time.Parse(time.RFC3339, secret.Annotations[credentials.ExpiresAnnotation])
	require.NoError(t, err)
	assert.InDelta(t, time.Hour.Seconds(), expires.Sub(issued).Seconds(), 60)

	tests := []struct {
		name      string
		now       time.Time
		renewed   bool
		requeueIn time.Duration
	}{
		{name: "before two thirds of the lifetime nothing changes", now: issued.Add(30 * time.Minute), requeueIn: 10 * time.Minute},
		{name: "after two thirds the token is renewed", now: issued.Add(41 * time.Minute), renewed: true, requeueIn: 40 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := &corev1.Secret{}
			require.NoError(t, p.Client.Get(ctx, key, before))
			r := &credentials.Rotator{Issuer: iss, Now: func() time.Time { return tt.now }}
			result, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: key})
			require.NoError(t, err)
			assert.InDelta(t, tt.requeueIn.Seconds(), result.RequeueAfter.Seconds(), 60)
			after := &corev1.Secret{}
			require.NoError(t, p.Client.Get(ctx, key, after))
			if tt.renewed {
				assert.NotEqual(t, before.Data[credentials.KubeconfigKey], after.Data[credentials.KubeconfigKey], "a new token")
			} else {
				assert.Equal(t, before.ResourceVersion, after.ResourceVersion)
			}
		})
	}
}
