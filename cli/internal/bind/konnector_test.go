package bind

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
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
