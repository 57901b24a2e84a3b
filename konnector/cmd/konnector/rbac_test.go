package main_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/util/conditions"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/contract"
	"github.com/bindery-dev/bindery/konnector/deploy"
	"github.com/bindery-dev/bindery/test/framework"
)

// TestChartRBACIsEnough runs the konnector with the ServiceAccount and
// RBAC of its chart, rendered for one binding with two claims, and checks
// that it binds, syncs both ways, copies the claimed Secret into the
// cluster and the claimed ConfigMap out of it (a kind it may only read
// here), and unbinds: the least-privilege grants are sufficient.
func TestChartRBACIsEnough(t *testing.T) {
	t.Parallel()
	cs := framework.StartClusters(t, "provider", "consumer")
	prov, cons := cs[0], cs[1]
	claims := []binderyv1alpha1.PermissionClaim{
		{Resource: "secrets", Direction: binderyv1alpha1.ClaimProviderToConsumer, Selector: binderyv1alpha1.ClaimSelector{Names: []string{"conn"}}},
		{Resource: "configmaps", Direction: binderyv1alpha1.ClaimConsumerToProvider, Selector: binderyv1alpha1.ClaimSelector{Names: []string{"db-settings"}}},
	}
	framework.ProviderSide(t, prov, func(e *kubebindv1alpha1.APIServiceExport) {
		e.Annotations = map[string]string{}
		require.NoError(t, contract.ExportSettings{Claims: claims}.WriteExport(e.Annotations))
	})
	framework.ConsumerSide(t, cons, prov)
	ctx := t.Context()
	cc := cons.Client

	accepted := contract.BindingSettings{AcceptedClaims: claims}
	objs, err := deploy.Render(deploy.Options{
		Bindings:         []deploy.Binding{{Name: framework.BindingName, Group: "db.example.com", Resource: "databases"}},
		ClaimedResources: accepted.WrittenClaimedResources(), ReadOnlyClaimedResources: []string{"configmaps"},
	})
	require.NoError(t, err)
	installChart(t, cons, objs)
	tok, err := cons.Kube.CoreV1().ServiceAccounts("kube-bind").CreateToken(ctx, "konnector",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	require.NoError(t, err)
	kubeconfig := filepath.Join(t.TempDir(), "konnector.kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(clientcmdapi.Config{
		Clusters:       map[string]*clientcmdapi.Cluster{"consumer": {Server: cons.Config.Host, CertificateAuthorityData: cons.Config.CAData}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{"konnector": {Token: tok.Status.Token}},
		Contexts:       map[string]*clientcmdapi.Context{"konnector": {Cluster: "consumer", AuthInfo: "konnector"}},
		CurrentContext: "konnector",
	}, kubeconfig))

	p := &framework.Process{
		Name: "konnector", Path: konnectorBin, Log: cons.LogWriter("konnector"),
		Args: []string{"--kubeconfig", kubeconfig, "--metrics-bind-address=0", "--health-probe-bind-address=0", "--heartbeat-interval=4s"},
	}
	require.NoError(t, p.Start())
	t.Cleanup(p.Stop)

	b := framework.Binding()
	b.Annotations = map[string]string{}
	require.NoError(t, accepted.WriteBinding(b.Annotations))
	require.NoError(t, cc.Create(ctx, b))
	waitBinding(t, cc, func(b *kubebindv1alpha1.APIServiceBinding) (bool, string) {
		return conditions.IsTrue(b, "Ready"), "not Ready"
	})
	cd, pd := fastClient(t, cons), fastClient(t, prov)
	opCtx, stop := context.WithCancel(ctx)
	defer stop()
	go providerOperator(opCtx, pd, framework.ClusterNS+"-default")
	for i := range 10 {
		_, err := cd.Resource(framework.Databases).Namespace("default").Create(ctx, database("default", fmt.Sprintf("db-%d", i)), metav1.CreateOptions{})
		require.NoError(t, err)
	}
	framework.Eventually(t, func() (bool, string) { return converged(ctx, cd, pd, []string{"default"}, 10) }, 2*time.Minute)

	pns := framework.ClusterNS + "-default"
	require.NoError(t, prov.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: pns, Name: "conn"}, StringData: map[string]string{"endpoint": "db:5432"}}))
	require.NoError(t, cc.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "db-settings"}, Data: map[string]string{"max": "100"}}))
	framework.Eventually(t, func() (bool, string) {
		err := cc.Get(ctx, client.ObjectKey{Namespace: "default", Name: "conn"}, &corev1.Secret{})
		return err == nil, fmt.Sprint("the claimed Secret in the consumer: ", err)
	}, framework.WaitTimeout)
	framework.Eventually(t, func() (bool, string) {
		err := prov.Client.Get(ctx, client.ObjectKey{Namespace: pns, Name: "db-settings"}, &corev1.ConfigMap{})
		return err == nil, fmt.Sprint("the claimed ConfigMap on the provider: ", err)
	}, framework.WaitTimeout)

	require.NoError(t, cc.Delete(ctx, framework.Binding()))
	framework.Eventually(t, func() (bool, string) {
		err := cc.Get(ctx, client.ObjectKey{Name: framework.BindingName}, &apiextensionsv1.CustomResourceDefinition{})
		return apierrors.IsNotFound(err), fmt.Sprint("CRD still there: ", err)
	}, 2*time.Minute)
	list, err := pd.Resource(framework.Databases).Namespace(framework.ClusterNS+"-default").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Empty(t, list.Items, "provider copies deleted on unbind")
}

// installChart creates the chart's rendered objects but its Deployment:
// there is no container runtime here; tests run the binary, or send
// requests, as its ServiceAccount instead.
func installChart(t *testing.T, c *framework.Cluster, objs []*unstructured.Unstructured) {
	t.Helper()
	admin := fastClient(t, c)
	for _, o := range objs {
		if o.GetKind() == "Deployment" {
			continue
		}
		gvr, err := deploy.Resource(o)
		require.NoError(t, err)
		_, err = admin.Resource(gvr).Namespace(o.GetNamespace()).Create(t.Context(), o, metav1.CreateOptions{})
		require.NoError(t, err, "%s %s", o.GetKind(), o.GetName())
	}
}

// TestClaimCopyPolicy checks the chart's admission policy with requests
// of the konnector's ServiceAccount: its cluster-wide grant of a claimed
// kind writes only its claim copies, outside its own namespace, and never
// a service-account token Secret, while others write as before.
func TestClaimCopyPolicy(t *testing.T) {
	t.Parallel()
	c := framework.StartClusters(t, "consumer")[0]
	ctx := t.Context()
	objs, err := deploy.Render(deploy.Options{ClaimedResources: []string{"secrets", "configmaps"}})
	require.NoError(t, err)
	for _, ns := range []string{"kube-bind", "app"} {
		require.NoError(t, c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	}
	installChart(t, c, objs)

	cfg := rest.CopyConfig(c.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:kube-bind:konnector", Groups: []string{"system:serviceaccounts", "system:serviceaccounts:kube-bind"}}
	konnector, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	copyLabel := map[string]string{binderyv1alpha1.ClaimedByLabel: framework.BindingName}
	secret := func(ns, name string, labels map[string]string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}, StringData: map[string]string{"k": "v"}}
	}
	for _, s := range []*corev1.Secret{secret("app", "own", nil), secret("app", "copy", copyLabel), secret("app", "to-relabel", copyLabel), secret("kube-bind", "provider-kubeconfig", nil)} {
		require.NoError(t, c.Client.Create(ctx, s))
	}
	// The API server loads a policy a moment after it is created.
	framework.Eventually(t, func() (bool, string) {
		probe := secret("app", "", nil)
		probe.GenerateName = "probe-"
		_, err := konnector.CoreV1().Secrets("app").Create(ctx, probe, metav1.CreateOptions{})
		return apierrors.IsForbidden(err), fmt.Sprint("an unlabelled create is not refused yet: ", err)
	}, framework.WaitTimeout)

	unlabel := func(s *corev1.Secret) { s.Labels = nil }
	label := func(s *corev1.Secret) { s.Labels = copyLabel }
	change := func(s *corev1.Secret) { s.StringData = map[string]string{"k": "changed"} }
	tokenSecret := secret("app", "token", copyLabel)
	tokenSecret.Type, tokenSecret.Annotations = corev1.SecretTypeServiceAccountToken, map[string]string{corev1.ServiceAccountNameKey: "default"}
	tests := []struct {
		name    string
		do      func(ctx context.Context) error
		allowed bool
	}{
		{"create an unlabelled Secret", createSecret(konnector, secret("app", "new", nil)), false},
		{"create an unlabelled ConfigMap", func(ctx context.Context) error {
			_, err := konnector.CoreV1().ConfigMaps("app").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "new"}}, metav1.CreateOptions{})
			return err
		}, false},
		{"create a labelled service-account token Secret", createSecret(konnector, tokenSecret), false},
		{"change the app's own Secret", updateSecret(konnector, "app", "own", change), false},
		{"label the app's own Secret", updateSecret(konnector, "app", "own", label), false},
		{"delete the app's own Secret", deleteSecret(konnector, "app", "own"), false},
		{"unlabel a copy", updateSecret(konnector, "app", "to-relabel", unlabel), false},
		{"create a copy", createSecret(konnector, secret("app", "new-copy", copyLabel)), true},
		{"change a copy", updateSecret(konnector, "app", "copy", change), true},
		{"delete a copy", deleteSecret(konnector, "app", "copy"), true},
		{"change a provider kubeconfig Secret in its own namespace", updateSecret(konnector, "kube-bind", "provider-kubeconfig", change), true},
		{"someone else creates an unlabelled Secret", createSecret(c.Kube, secret("app", "admins", nil)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do(ctx)
			if tt.allowed {
				require.NoError(t, err)
				return
			}
			require.True(t, apierrors.IsForbidden(err), "refused: %v", err)
			require.Contains(t, err.Error(), deploy.ClaimCopyPolicyName, "by the policy, not RBAC")
		})
	}
	own := &corev1.Secret{}
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Namespace: "app", Name: "own"}, own))
	require.Equal(t, "v", string(own.Data["k"]), "the app's own Secret is as it was")
}

// createSecret creates s with client k.
func createSecret(k kubernetes.Interface, s *corev1.Secret) func(context.Context) error {
	return func(ctx context.Context) error {
		_, err := k.CoreV1().Secrets(s.Namespace).Create(ctx, s, metav1.CreateOptions{})
		return err
	}
}

// deleteSecret deletes a Secret with client k.
func deleteSecret(k kubernetes.Interface, ns, name string) func(context.Context) error {
	return func(ctx context.Context) error {
		return k.CoreV1().Secrets(ns).Delete(ctx, name, metav1.DeleteOptions{})
	}
}

// updateSecret reads a Secret and updates it, changed by mutate, with
// client k.
func updateSecret(k kubernetes.Interface, ns, name string, mutate func(*corev1.Secret)) func(context.Context) error {
	return func(ctx context.Context) error {
		s, err := k.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		mutate(s)
		_, err = k.CoreV1().Secrets(ns).Update(ctx, s, metav1.UpdateOptions{})
		return err
	}
}
