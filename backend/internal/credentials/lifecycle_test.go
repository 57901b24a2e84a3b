package credentials_test

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
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindery-dev/bindery/apis/providername"
	"github.com/bindery-dev/bindery/backend/internal/access"
	"github.com/bindery-dev/bindery/backend/internal/consumer"
	"github.com/bindery-dev/bindery/backend/internal/credentials"
	"github.com/bindery-dev/bindery/backend/internal/onboarding"
	"github.com/bindery-dev/bindery/backend/internal/scheme"
	"github.com/bindery-dev/bindery/test/framework"
)

// TestRevokeByDeletingTheClusterNamespace is the operator's one action to
// revoke a consumer cluster: deleting its cluster namespace. Every token
// it holds stops working, and its cluster-wide grants go with it.
func TestRevokeByDeletingTheClusterNamespace(t *testing.T) {
	t.Parallel()
	p := framework.StartControlPlane(t)
	ctx := t.Context()
	res, err := onboarding.Ensure(ctx, p.Client, providername.Consumer{Issuer: "https://idp", Subject: "mallory", ClusterID: "c1"}, "Test")
	require.NoError(t, err)
	iss := &credentials.Issuer{Client: p.Client, Kube: p.Kube, Server: p.Config.Host, CA: p.Config.CAData, TTL: time.Hour}
	kubeconfig, err := iss.Issue(ctx, res.Namespace)
	require.NoError(t, err)
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	require.NoError(t, err)
	leaked, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	require.NoError(t, err)
	cbKey := client.ObjectKey{Namespace: res.Namespace, Name: consumer.ClusterBindingName}
	require.NoError(t, leaked.Get(ctx, cbKey, &kubebindv1alpha1.ClusterBinding{}), "the token works")

	start := time.Now()
	require.NoError(t, p.Client.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: res.Namespace}}))
	framework.Eventually(t, func() (bool, string) {
		err := leaked.Get(ctx, cbKey, &kubebindv1alpha1.ClusterBinding{})
		return apierrors.IsUnauthorized(err), "the leaked token still gets " + errString(err)
	}, framework.WaitTimeout)
	t.Logf("the token stopped working %s after the namespace was deleted", time.Since(start).Round(time.Millisecond))
	framework.Eventually(t, func() (bool, string) {
		err := p.Client.Get(ctx, client.ObjectKey{Name: onboarding.ClusterRoleName(res.Namespace)}, &rbacv1.ClusterRole{})
		err2 := p.Client.Get(ctx, client.ObjectKey{Name: onboarding.ClusterRoleName(res.Namespace)}, &rbacv1.ClusterRoleBinding{})
		return apierrors.IsNotFound(err) && apierrors.IsNotFound(err2), "its ClusterRole and ClusterRoleBinding are still there"
	}, framework.WaitTimeout)
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}

// TestRenewalFollowsPolicy renews a token only while the consumer's user is
// still allowed and its konnector has been heard from within the grace
// period; otherwise the Secret and an Event say why.
func TestRenewalFollowsPolicy(t *testing.T) {
	t.Parallel()
	p := framework.StartControlPlane(t)
	ctx := t.Context()
	iss := &credentials.Issuer{Client: p.Client, Kube: p.Kube, Server: "https://provider.example.com:6443", TTL: time.Hour}
	const grace = 72 * time.Hour
	// onboard a consumer as a bind does, with a heartbeat at heartbeat.
	onboard := func(t *testing.T, issuer, subject string, groups []string, heartbeat time.Time) client.ObjectKey {
		res, err := onboarding.Ensure(ctx, p.Client, providername.Consumer{Issuer: issuer, Subject: subject, ClusterID: "c1"}, "Test")
		require.NoError(t, err)
		require.NoError(t, onboarding.RecordBind(ctx, p.Client, res.Namespace, onboarding.Bind{SessionID: subject, Name: subject + "@example.com", Groups: groups, Until: time.Now().Add(time.Minute), Now: time.Now()}))
		cb := &kubebindv1alpha1.ClusterBinding{}
		require.NoError(t, p.Client.Get(ctx, client.ObjectKey{Namespace: res.Namespace, Name: consumer.ClusterBindingName}, cb))
		cb.Status.LastHeartbeatTime = metav1.NewTime(heartbeat)
		require.NoError(t, p.Client.Status().Update(ctx, cb))
		_, err = iss.Issue(ctx, res.Namespace)
		require.NoError(t, err)
		return client.ObjectKey{Namespace: res.Namespace, Name: consumer.KubeconfigSecretName}
	}
	due := time.Now().Add(45 * time.Minute) // past two thirds of the hour
	tests := []struct {
		name       string
		issuer     string
		subject    string
		groups     []string
		heartbeat  time.Time
		wantReason string
	}{
		{name: "an allowed user with a live konnector", issuer: "https://idp", subject: "alice", groups: []string{"developers"}, heartbeat: due.Add(-time.Minute)},
		{name: "a user no longer in the allowed groups", issuer: "https://idp", subject: "bob", groups: []string{"contractors"}, heartbeat: due.Add(-time.Minute), wantReason: credentials.ReasonNotAllowed},
		{name: "a konnector silent for longer than the grace period", issuer: "https://idp", subject: "carol", groups: []string{"developers"}, heartbeat: due.Add(-grace - time.Hour), wantReason: credentials.ReasonSilent},
		{name: "an operator-issued consumer is not subject to the allow-lists", issuer: consumer.OperatorIssuer, subject: "ci", heartbeat: due.Add(-time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := onboard(t, tt.issuer, tt.subject, tt.groups, tt.heartbeat)
			before := &corev1.Secret{}
			require.NoError(t, p.Client.Get(ctx, key, before))
			rec := events.NewFakeRecorder(4)
			r := &credentials.Rotator{Issuer: iss, Allowed: access.AllowList{Groups: []string{"developers"}}, GracePeriod: grace, Recorder: rec, Now: func() time.Time { return due }}
			_, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: key})
			require.NoError(t, err)
			after := &corev1.Secret{}
			require.NoError(t, p.Client.Get(ctx, key, after))
			if tt.wantReason == "" {
				assert.NotEqual(t, before.Data[credentials.KubeconfigKey], after.Data[credentials.KubeconfigKey], "renewed")
				assert.Empty(t, after.Annotations[credentials.RenewalStoppedAnnotation])
				return
			}
			assert.Equal(t, before.Data[credentials.KubeconfigKey], after.Data[credentials.KubeconfigKey], "not renewed")
			assert.Contains(t, after.Annotations[credentials.RenewalStoppedAnnotation], "the token is no longer renewed")
			require.Len(t, rec.Events, 1)
			assert.Contains(t, <-rec.Events, tt.wantReason)

			// Checking again reports nothing new.
			_, err = r.Reconcile(ctx, ctrl.Request{NamespacedName: key})
			require.NoError(t, err)
			assert.Empty(t, rec.Events)
			// A new bind issues a token and clears the report.
			_, err = iss.Issue(ctx, key.Namespace)
			require.NoError(t, err)
			require.NoError(t, p.Client.Get(ctx, key, after))
			assert.Empty(t, after.Annotations[credentials.RenewalStoppedAnnotation])
		})
	}
}
