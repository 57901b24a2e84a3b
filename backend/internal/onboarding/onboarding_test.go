package onboarding

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/bindery-dev/bindery/backend/internal/scheme"
)

// TestEnsureQuotaSeedsEveryUsage: once a quota counts a custom resource,
// which kube-controller-manager may not count for a while, the API server
// refuses whatever it counts until each of its limits has a usage, so the
// backend seeds them all, built-in ones too, from what is there; a usage
// already counted is left as it is.
func TestEnsureQuotaSeedsEveryUsage(t *testing.T) {
	const ns = "svc"
	cm := func(name string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	}
	existing := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "q"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"count/secrets": resource.MustParse("500")}},
		Status:     corev1.ResourceQuotaStatus{Used: corev1.ResourceList{"count/secrets": resource.MustParse("7")}},
	}
	c := fake.NewClientBuilder().WithScheme(scheme.Scheme).WithStatusSubresource(&corev1.ResourceQuota{}).
		WithObjects(cm("a"), cm("b"), existing).Build()

	hard, kinds := ServiceQuota.DeepCopy(), CountedKinds{}
	for k, v := range ServiceQuotaKinds {
		kinds[k] = v
	}
	CountObjects(hard, kinds, schema.GroupVersionKind{Group: "db.example.com", Version: "v1", Kind: "Database"}, "databases", 3)
	require.NoError(t, EnsureQuota(t.Context(), c, c, ns, "q", hard, kinds))

	q := &corev1.ResourceQuota{}
	require.NoError(t, c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "q"}, q))
	assert.True(t, equality.Semantic.DeepEqual(hard, q.Spec.Hard), "hard %v", q.Spec.Hard)
	used := map[corev1.ResourceName]int64{}
	for k, v := range q.Status.Used {
		used[k] = v.Value()
	}
	assert.Equal(t, map[corev1.ResourceName]int64{
		"count/secrets":                  7, // counted already
		"count/configmaps":               2,
		"count/databases.db.example.com": 0,
	}, used)
}
