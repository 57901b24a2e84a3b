package binding_test

import (
	"fmt"
	"testing"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindery-dev/bindery/konnector/internal/objectsync"
	"github.com/bindery-dev/bindery/test/framework"
)

// TestNamespacedIsolationMapsObjectsIntoTheClusterNamespace binds a
// resource that is namespaced on the provider and offered cluster-scoped
// with Namespaced isolation: the consumer's cluster-scoped objects live,
// under their own names, in the consumer's cluster namespace.
func TestNamespacedIsolationMapsObjectsIntoTheClusterNamespace(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(x *kubebindv1alpha1.APIServiceExport) {
		x.Spec.Scope = apiextensionsv1.ClusterScoped
		x.Spec.InformerScope = kubebindv1alpha1.ClusterScope
		x.Spec.ClusterScopedIsolation = kubebindv1alpha1.IsolationNamespaced
	})
	ctx := t.Context()
	waitCondition(t, e.cc, e.binding.Name, "Ready", corev1.ConditionTrue, "")
	crd := &apiextensionsv1.CustomResourceDefinition{}
	require.NoError(t, e.cc.Get(ctx, client.ObjectKey{Name: e.binding.Name}, crd))
	assert.Equal(t, apiextensionsv1.ClusterScoped, crd.Spec.Scope, "cluster-scoped for the consumer")

	consumer := e.consumerDyn.Resource(databases)
	provider := e.providerDyn.Resource(databases).Namespace(clusterNS)
	created, err := consumer.Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "db.example.com/v1", "kind": "Database",
		"metadata": map[string]any{"name": "orders"},
		"spec":     map[string]any{"size": "small"},
	}}, metav1.CreateOptions{})
	require.NoError(t, err)

	t.Run("the copy keeps its name in the cluster namespace", func(t *testing.T) {
		var copyObj *unstructured.Unstructured
		framework.Eventually(t, func() (bool, string) {
			copyObj, err = provider.Get(ctx, "orders", metav1.GetOptions{})
			return err == nil, fmt.Sprint(err)
		}, framework.WaitTimeout)
		size, _, _ := unstructured.NestedString(copyObj.Object, "spec", "size")
		assert.Equal(t, "small", size)
		assert.Equal(t, objectsync.ManagedByValue, copyObj.GetLabels()[objectsync.ManagedByLabel])
		assert.Equal(t, "orders/"+string(created.GetUID()), copyObj.GetAnnotations()[objectsync.OriginAnnotation], "a cluster-scoped object's name and UID")
	})

	t.Run("status comes up and spec changes go down", func(t *testing.T) {
		copyObj, err := provider.Get(ctx, "orders", metav1.GetOptions{})
		require.NoError(t, err)
		require.NoError(t, unstructured.SetNestedField(copyObj.Object, "Ready", "status", "phase"))
		_, err = provider.UpdateStatus(ctx, copyObj, metav1.UpdateOptions{})
		require.NoError(t, err)
		framework.Eventually(t, func() (bool, string) {
			got, err := consumer.Get(ctx, "orders", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			phase, _, _ := unstructured.NestedString(got.Object, "status", "phase")
			return phase == "Ready", "phase " + phase
		}, framework.WaitTimeout)
		require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
			got, err := consumer.Get(ctx, "orders", metav1.GetOptions{})
			if err != nil {
				return err
			}
			require.NoError(t, unstructured.SetNestedField(got.Object, "large", "spec", "size"))
			_, err = consumer.Update(ctx, got, metav1.UpdateOptions{})
			return err
		}))
		framework.Eventually(t, func() (bool, string) {
			c, err := provider.Get(ctx, "orders", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			size, _, _ := unstructured.NestedString(c.Object, "spec", "size")
			return size == "large", "size " + size
		}, framework.WaitTimeout)
	})

	t.Run("deleting the object deletes its copy first", func(t *testing.T) {
		require.NoError(t, consumer.Delete(ctx, "orders", metav1.DeleteOptions{}))
		framework.Eventually(t, func() (bool, string) {
			_, errP := provider.Get(ctx, "orders", metav1.GetOptions{})
			_, errC := consumer.Get(ctx, "orders", metav1.GetOptions{})
			return apierrors.IsNotFound(errP) && apierrors.IsNotFound(errC), fmt.Sprintf("provider: %v; consumer: %v", errP, errC)
		}, framework.WaitTimeout)
	})
}
