package framework_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bindery-dev/bindery/test/framework"
)

// BenchmarkNodeStartup measures what a test pays for pods: from StartNode
// to a Ready, schedulable node, and from creating a pod to its Running.
func BenchmarkNodeStartup(b *testing.B) {
	c := framework.StartCluster(b, "bench", framework.WithPods())
	var ready, running time.Duration
	for range b.N {
		start := time.Now()
		node := framework.StartNode(b, c)
		ready += time.Since(start)

		start = time.Now()
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "pause-" + node.Name, Namespace: "default"},
			Spec: corev1.PodSpec{NodeName: node.Name, Containers: []corev1.Container{{
				Name: "pause", Image: framework.SandboxImage, ImagePullPolicy: corev1.PullNever,
			}}},
		}
		_, err := c.Kube.CoreV1().Pods("default").Create(b.Context(), pod, metav1.CreateOptions{})
		require.NoError(b, err)
		framework.Eventually(b, func() (bool, string) {
			p, err := c.Kube.CoreV1().Pods("default").Get(b.Context(), pod.Name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return p.Status.Phase == corev1.PodRunning, string(p.Status.Phase)
		}, framework.WaitTimeout)
		running += time.Since(start)
		node.Stop()
	}
	b.ReportMetric(ready.Seconds()/float64(b.N), "node-ready-s")
	b.ReportMetric(running.Seconds()/float64(b.N), "pod-running-s")
}
