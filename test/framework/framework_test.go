package framework_test

import (
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindery-dev/bindery/test/framework"
)

func TestMain(m *testing.M) { framework.Main(m) }

// TestClustersAreRealAndIndependent is the smoke test of the framework: two
// clusters that do not share state, and a controller manager that collects
// garbage and finishes namespace deletion.
func TestClustersAreRealAndIndependent(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	cs := framework.StartClusters(t, "provider", "consumer")
	provider, consumer := cs[0], cs[1]

	t.Run("a CRD created in one cluster is not seen in the other", func(t *testing.T) {
		crd := widgetCRD()
		require.NoError(t, provider.Client.Create(ctx, crd))
		framework.Eventually(t, func() (bool, string) {
			got := &apiextensionsv1.CustomResourceDefinition{}
			if err := provider.Client.Get(ctx, client.ObjectKeyFromObject(crd), got); err != nil {
				return false, err.Error()
			}
			for _, c := range got.Status.Conditions {
				if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
					return true, ""
				}
			}
			return false, "CRD not established"
		}, framework.WaitTimeout)

		err := consumer.Client.Get(ctx, client.ObjectKeyFromObject(crd), &apiextensionsv1.CustomResourceDefinition{})
		assert.True(t, apierrors.IsNotFound(err), "consumer must not see the provider's CRD, got %v", err)
	})

	t.Run("the CPU of each cluster's programs is its own", func(t *testing.T) {
		// A client given the cluster's kubeconfig is not one of them.
		other := &framework.Process{Name: "client", Path: "/bin/sh", Args: []string{"-c", "sleep 30", "client", provider.Kubeconfig}}
		require.NoError(t, other.Start())
		t.Cleanup(other.Stop)
		p, err := provider.CPUSeconds()
		require.NoError(t, err)
		c, err := consumer.CPUSeconds()
		require.NoError(t, err)
		for _, cpu := range []map[string]float64{p, c} {
			assert.Equal(t, []string{"etcd", "kube-apiserver", "kube-controller-manager"}, slices.Sorted(maps.Keys(cpu)))
			assert.Positive(t, cpu["kube-apiserver"])
		}
	})

	t.Run("deleting an owner garbage-collects its dependents", func(t *testing.T) {
		owner := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "owner", Namespace: "default"}}
		require.NoError(t, consumer.Client.Create(ctx, owner))
		dependent := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
			Name: "dependent", Namespace: "default",
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID}},
		}}
		require.NoError(t, consumer.Client.Create(ctx, dependent))
		require.NoError(t, consumer.Client.Delete(ctx, owner))
		framework.Eventually(t, func() (bool, string) {
			err := consumer.Client.Get(ctx, client.ObjectKeyFromObject(dependent), &corev1.ConfigMap{})
			return apierrors.IsNotFound(err), "dependent still exists"
		}, framework.WaitTimeout)
	})

	t.Run("a deleted namespace goes away with its content", func(t *testing.T) {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "doomed"}}
		require.NoError(t, provider.Client.Create(ctx, ns))
		require.NoError(t, provider.Client.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "content", Namespace: ns.Name}}))
		require.NoError(t, provider.Client.Delete(ctx, ns))
		framework.Eventually(t, func() (bool, string) {
			err := provider.Client.Get(ctx, client.ObjectKeyFromObject(ns), &corev1.Namespace{})
			return apierrors.IsNotFound(err), "namespace still exists"
		}, framework.WaitTimeout)
	})

	t.Run("legacy service-account token Secrets are filled in", func(t *testing.T) {
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot", Namespace: "default"}}
		require.NoError(t, provider.Client.Create(ctx, sa))
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "robot-token", Namespace: "default",
				Annotations: map[string]string{corev1.ServiceAccountNameKey: sa.Name}},
			Type: corev1.SecretTypeServiceAccountToken,
		}
		require.NoError(t, provider.Client.Create(ctx, secret))
		framework.Eventually(t, func() (bool, string) {
			got := &corev1.Secret{}
			if err := provider.Client.Get(ctx, client.ObjectKeyFromObject(secret), got); err != nil {
				return false, err.Error()
			}
			return len(got.Data[corev1.ServiceAccountTokenKey]) > 0, "token not filled in"
		}, framework.WaitTimeout)
	})

}

func widgetCRD() *apiextensionsv1.CustomResourceDefinition {
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "widgets.example.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "example.com",
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "widgets", Singular: "widget", Kind: "Widget", ListKind: "WidgetList"},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type:                   "object",
					XPreserveUnknownFields: ptrTo(true),
				}},
			}},
		},
	}
}

func ptrTo[T any](v T) *T { return &v }
