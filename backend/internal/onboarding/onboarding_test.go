package onboarding

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/bindery-dev/bindery/backend/internal/scheme"
)

// TestEnsureQuotaSeedsUsage: the backend fills in the usage of what a
// quota counts from what is there (here ConfigMaps stand in for a custom
// resource kube-controller-manager does not count yet), and leaves a usage
// already counted as it is.
func TestEnsureQuotaSeedsUsage(t *testing.T) {
	const ns = "svc"
	cm := func(name string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	}
	existing := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "q"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"count/secrets": resource.MustParse("10")}},
		Status:     corev1.ResourceQuotaStatus{Used: corev1.ResourceList{"count/secrets": resource.MustParse("7")}},
	}
	c := fake.NewClientBuilder().WithScheme(scheme.Scheme).WithStatusSubresource(&corev1.ResourceQuota{}).
		WithObjects(cm("a"), cm("b"), existing).Build()

	hard := corev1.ResourceList{"count/secrets": resource.MustParse("10"), "count/configmaps": resource.MustParse("10")}
	kinds := CountedKinds{
		"count/secrets":    corev1.SchemeGroupVersion.WithKind("SecretList"),
		"count/configmaps": corev1.SchemeGroupVersion.WithKind("ConfigMapList"),
	}
	require.NoError(t, EnsureQuota(t.Context(), c, c, ns, "q", hard, kinds))

	q := &corev1.ResourceQuota{}
	require.NoError(t, c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "q"}, q))
	assert.True(t, equality.Semantic.DeepEqual(hard, q.Spec.Hard), "hard %v", q.Spec.Hard)
	used := map[corev1.ResourceName]int64{}
	for k, v := range q.Status.Used {
		used[k] = v.Value()
	}
	assert.Equal(t, map[corev1.ResourceName]int64{"count/secrets": 7, "count/configmaps": 2}, used, "counted already: kept; the rest: seeded")
}
