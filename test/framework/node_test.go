package framework_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/bindery-dev/bindery/test/framework"
	"github.com/bindery-dev/bindery/test/images"
	"github.com/bindery-dev/bindery/test/ociarchive"
)

// TestNodeRunsPods: a node joins a cluster, runs a Deployment's pods from
// a locally built image, and the pods reach the API server at the
// in-cluster address with their ServiceAccount token. Stopping the node
// leaves nothing behind.
func TestNodeRunsPods(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := framework.StartCluster(t, "pods", framework.WithPods())
	start := time.Now()
	node := framework.StartNode(t, c)
	t.Logf("node %s Ready %s after start", node.Name, time.Since(start).Round(time.Millisecond))

	dir := t.TempDir()
	bin := filepath.Join(dir, "node-probe")
	require.NoError(t, images.BuildStatic(framework.RepoRoot(), "test/cmd/node-probe", bin, "", ""))
	archive := filepath.Join(dir, "probe.oci.tar")
	_, err := ociarchive.WriteFile(archive, ociarchive.Image{Ref: "bindery.test/node-probe:v1", Entrypoint: []string{"/node-probe"}, User: "65532:65532",
		Files: []ociarchive.File{{Path: "/node-probe", Mode: 0o755, Source: bin}}})
	require.NoError(t, err)
	node.ImportImage(t, archive)

	labels := map[string]string{"app": "probe"}
	_, err = c.Kube.AppsV1().Deployments("default").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "probe"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "probe", Image: "bindery.test/node-probe:v1", ImagePullPolicy: corev1.PullNever,
				}}},
			},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	var pods []corev1.Pod
	framework.Eventually(t, func() (bool, string) {
		list, err := c.Kube.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=probe"})
		if err != nil {
			return false, err.Error()
		}
		running := 0
		var phases []string
		for _, p := range list.Items {
			phases = append(phases, string(p.Status.Phase))
			if p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		pods = list.Items
		return running == 2, strings.Join(phases, ",")
	}, 2*time.Minute)
	for _, p := range pods {
		assert.Equal(t, node.Name, p.Spec.NodeName)
		var logs string
		framework.Eventually(t, func() (bool, string) {
			raw, err := c.Kube.CoreV1().Pods("default").GetLogs(p.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
			logs = string(raw)
			return err == nil && strings.Contains(logs, "node-probe: 200 OK"), logs + errString(err)
		}, framework.WaitTimeout)
		assert.Contains(t, logs, `"gitVersion"`, "the pod reached the API server in-cluster")
	}

	t.Run("stopping the node leaves nothing behind", func(t *testing.T) {
		node.Stop()
		_, err := os.Stat(filepath.Join("/sys/class/net", "bindery"+strings.TrimPrefix(node.Name, "node-")))
		assert.True(t, os.IsNotExist(err), "the bridge is gone")
		out, _ := exec.Command("iptables-save").Output()
		assert.NotContains(t, string(out), "bindery-"+node.Name, "its iptables rules are gone")
		entries, _ := os.ReadDir("/sys/fs/cgroup/memory")
		for _, e := range entries {
			assert.NotEqual(t, "bindery-"+node.Name, e.Name(), "its cgroup is gone")
		}
		out, _ = exec.Command("pgrep", "-f", node.Dir).Output()
		assert.Empty(t, strings.TrimSpace(string(out)), "no process of the node runs")
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return " " + err.Error()
}
