package bind

import (
	"context"
	"slices"
	"testing"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/contract"
)

func TestWatchKonnectorFailures(t *testing.T) {
	// The fake clientset does not stream a watch-list's initial events.
	t.Setenv("KUBE_FEATURE_WatchListClient", "false")
	const image = "registry.example.com/konnector:v1"
	pod := func(img, reason string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "kube-bind", Name: "konnector-abc", Labels: map[string]string{"app.kubernetes.io/name": "konnector"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "konnector", Image: img}}},
			Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: "details"}},
			}}},
		}
	}
	tests := []struct {
		name              string
		pod               *corev1.Pod
		wantErr, wantHint string
	}{
		{"image cannot be pulled", pod(image, "ErrImagePull"), "the image cannot be pulled: pod kube-bind/konnector-abc is ErrImagePull: details", "make the image available to the cluster's nodes"},
		{"crash loop", pod(image, "CrashLoopBackOff"), "it keeps crashing", "kubectl -n kube-bind logs konnector-abc --previous"},
		{"bad config", pod(image, "CreateContainerConfigError"), "cannot be configured", "kubectl -n kube-bind describe pod konnector-abc"},
		{"still starting", pod(image, "ContainerCreating"), "", ""},
		{"a pod of another image", pod("registry.example.com/konnector:v0", "ErrImagePull"), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			err := watchKonnectorFailures(ctx, fake.NewClientset(tt.pod), "kube-bind", image)
			if tt.wantErr == "" {
				assert.NoError(t, err, "waiting longer may help: the binding wait decides")
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Contains(t, err.Error(), "hint: "+tt.wantHint)
		})
	}
}

// TestKonnectorGrantFollowsTheBindings: the konnector is granted the kinds
// the bindings' accepted claims copy, and nothing once no binding claims
// them.
func TestKonnectorGrantFollowsTheBindings(t *testing.T) {
	binding := func(name string, claims ...binderyv1alpha1.PermissionClaim) *unstructured.Unstructured {
		b := &unstructured.Unstructured{}
		b.SetAPIVersion(kubebindv1alpha1.SchemeGroupVersion.String())
		b.SetKind("APIServiceBinding")
		b.SetName(name)
		a := map[string]string{}
		require.NoError(t, contract.BindingSettings{AcceptedClaims: claims}.WriteBinding(a))
		b.SetAnnotations(a)
		return b
	}
	claimedKinds := func(objs []*unstructured.Unstructured) []string {
		var out []string
		for _, o := range objs {
			if o.GetKind() != "ClusterRole" {
				continue
			}
			rules, _, _ := unstructured.NestedSlice(o.Object, "rules")
			for _, r := range rules {
				m := r.(map[string]any)
				if groups, _ := m["apiGroups"].([]any); len(groups) == 1 && groups[0] == "" {
					access := "read"
					if slices.Contains(m["verbs"].([]any), any("create")) {
						access = "write"
					}
					for _, res := range m["resources"].([]any) {
						if res == "secrets" || res == "configmaps" {
							out = append(out, res.(string)+":"+access)
						}
					}
				}
			}
		}
		return out
	}
	secrets := binderyv1alpha1.PermissionClaim{Resource: "secrets", Direction: binderyv1alpha1.ClaimProviderToConsumer,
		Selector: binderyv1alpha1.ClaimSelector{Names: []string{"conn"}}}
	settings := binderyv1alpha1.PermissionClaim{Resource: "configmaps", Direction: binderyv1alpha1.ClaimConsumerToProvider,
		Selector: binderyv1alpha1.ClaimSelector{Names: []string{"settings"}}}
	caCert := binderyv1alpha1.PermissionClaim{Resource: "secrets", Direction: binderyv1alpha1.ClaimConsumerToProvider,
		Selector: binderyv1alpha1.ClaimSelector{Names: []string{"ca"}}}
	listKinds := map[schema.GroupVersionResource]string{Bindings: "APIServiceBindingList"}

	for _, tt := range []struct {
		name     string
		bindings []runtime.Object
		want     []string
	}{
		{"a binding that claims Secrets", []runtime.Object{binding("databases.db.example.com", secrets), binding("caches.db.example.com")}, []string{"secrets:write"}},
		{"claims that only copy to the provider are read here", []runtime.Object{binding("databases.db.example.com", settings, caCert)}, []string{"configmaps:read", "secrets:read"}},
		{"a kind copied both ways is written", []runtime.Object{binding("databases.db.example.com", caCert), binding("caches.db.example.com", secrets, settings)},
			[]string{"secrets:write", "configmaps:read"}},
		{"the claiming binding is gone", []runtime.Object{binding("caches.db.example.com")}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			consumer := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), listKinds, tt.bindings...)
			objs, err := KonnectorManifests(t.Context(), consumer, "kube-bind", "konnector:test")
			require.NoError(t, err)
			assert.Equal(t, tt.want, claimedKinds(objs))
		})
	}
}
