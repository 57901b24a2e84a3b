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
	admin := fastClient(t, cons)
	for _, o := range objs {
		if o.GetKind() == "Deployment" {
			continue // no container runtime here; the binary runs as that identity instead
		}
		gvr, err := deploy.Resource(o)
		require.NoError(t, err)
		_, err = admin.Resource(gvr).Namespace(o.GetNamespace()).Create(ctx, o, metav1.CreateOptions{})
		require.NoError(t, err, "%s %s", o.GetKind(), o.GetName())
	}
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
