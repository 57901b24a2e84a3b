package main_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindery-dev/bindery/backend/internal/consumer"
	"github.com/bindery-dev/bindery/backend/internal/scheme"
	"github.com/bindery-dev/bindery/test/framework"
	"github.com/bindery-dev/bindery/test/stack"
)

func TestMain(m *testing.M) { framework.Main(m) }

// BenchmarkConsumers binds 100 consumer clusters to one provider, each
// with one export of the example template and one service namespace, and
// reports what each costs the provider from the first 10 to 100:
// Kubernetes objects by kind, watches the backend opens, and the
// backend's memory and CPU. A flat cost is the same figure in both
// columns (…/consumer:first-10 and …/consumer:next-90).
func BenchmarkConsumers(b *testing.B) {
	const first, total = 10, 100
	bins, err := framework.Build(b.TempDir(), framework.BackendPkg, framework.ExampleOperatorPkg)
	require.NoError(b, err)
	c := framework.StartCluster(b, "provider")
	stack.StartOperator(b, c, bins)
	_, backend := stack.StartBackendProcess(b, c, bins, stack.BackendOptions{})
	dyn, err := dynamic.NewForConfig(c.Config)
	require.NoError(b, err)
	template := stack.ApplyTemplate(b, dyn, "examples/database/template.yaml")

	for b.Loop() {
		before := snapshot(b, c, backend)
		bindConsumers(b, c, bins, template, 0, first)
		atFirst := snapshot(b, c, backend)
		bindConsumers(b, c, bins, template, first, total)
		atTotal := snapshot(b, c, backend)

		for _, step := range []struct {
			name     string
			from, to state
			n        int
		}{{"first-10", before, atFirst, first}, {"next-90", atFirst, atTotal, total - first}} {
			for kind, v := range step.to.objects {
				b.ReportMetric(float64(v-step.from.objects[kind])/float64(step.n), kind+"/consumer:"+step.name)
			}
			b.ReportMetric((step.to.watches-step.from.watches)/float64(step.n), "backend-watches/consumer:"+step.name)
			b.ReportMetric((step.to.rssMiB-step.from.rssMiB)/float64(step.n), "backend-MiB/consumer:"+step.name)
			b.ReportMetric((step.to.cpuSeconds-step.from.cpuSeconds)*1000/float64(step.n), "backend-cpu-ms/consumer:"+step.name)
		}
		b.ReportMetric(atTotal.rssMiB, "backend-MiB:at-100")
	}
	b.ReportMetric(0, "ns/op")
}

// bindConsumers onboards consumers from to to-1, as issue-kubeconfig does
// for CI/CD, and with each one's own credentials requests the template's
// export and a service namespace; it returns when the backend has served
// both.
func bindConsumers(b *testing.B, c *framework.Cluster, bins stack.Programs, template string, from, to int) {
	ctx := b.Context()
	for i := from; i < to; i++ {
		cmd := exec.CommandContext(ctx, bins["bindery-backend"], "issue-kubeconfig", "--kubeconfig", c.Kubeconfig,
			"--subject", fmt.Sprintf("team-%03d", i), "--cluster-id", fmt.Sprintf("cluster-%03d", i))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		kubeconfig, err := cmd.Output()
		require.NoError(b, err, stderr.String())
		cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
		require.NoError(b, err)
		kc, err := clientcmd.Load(kubeconfig)
		require.NoError(b, err)
		ns := kc.Contexts[kc.CurrentContext].Namespace
		cc, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
		require.NoError(b, err)
		require.NoError(b, cc.Create(ctx, &kubebindv1alpha1.APIServiceExportRequest{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "databases", Annotations: map[string]string{consumer.TemplateAnnotation: template}},
			Spec: kubebindv1alpha1.APIServiceExportRequestSpec{Resources: []kubebindv1alpha1.APIServiceExportRequestResource{
				{GroupResource: kubebindv1alpha1.GroupResource{Group: stack.Databases.Group, Resource: stack.Databases.Resource}},
			}},
		}))
		require.NoError(b, cc.Create(ctx, &kubebindv1alpha1.APIServiceNamespace{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"}}))
		waitServed(ctx, b, cc, ns)
	}
}

// waitServed waits until the backend has exported the consumer's request
// and assigned its service namespace.
func waitServed(ctx context.Context, b *testing.B, cc client.Client, ns string) {
	framework.Eventually(b, func() (bool, string) {
		req := &kubebindv1alpha1.APIServiceExportRequest{}
		if err := cc.Get(ctx, client.ObjectKey{Namespace: ns, Name: "databases"}, req); err != nil {
			return false, err.Error()
		}
		if req.Status.Phase != kubebindv1alpha1.APIServiceExportRequestPhaseSucceeded {
			return false, fmt.Sprintf("request of %s: phase %q %s", ns, req.Status.Phase, req.Status.TerminalMessage)
		}
		asn := &kubebindv1alpha1.APIServiceNamespace{}
		if err := cc.Get(ctx, client.ObjectKey{Namespace: ns, Name: "default"}, asn); err != nil {
			return false, err.Error()
		}
		return asn.Status.Namespace != "", "service namespace of " + ns + " not assigned"
	}, framework.WaitTimeout)
}

// state is what the provider holds and the backend uses at one moment.
type state struct {
	objects            map[string]int
	watches            float64
	rssMiB, cpuSeconds float64
}

func snapshot(b *testing.B, c *framework.Cluster, backend *framework.Process) state {
	b.Helper()
	ctx := b.Context()
	s := state{objects: map[string]int{}}
	for _, gvk := range []string{"Namespace", "ServiceAccount", "Secret", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding", "ResourceQuota", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "APIServiceExport"} {
		list, err := listOf(gvk)
		require.NoError(b, err)
		require.NoError(b, c.Client.List(ctx, list))
		items, err := meta.ExtractList(list)
		require.NoError(b, err)
		s.objects[plural(gvk)] = len(items)
	}
	for kind, v := range c.Requests(b) {
		if kind.Verb == "WATCH" {
			s.watches += v
		}
	}
	var err error
	s.rssMiB, err = backend.MemoryMiB("VmRSS")
	require.NoError(b, err)
	s.cpuSeconds, err = backend.CPUSeconds()
	require.NoError(b, err)
	return s
}

func plural(kind string) string {
	if k, ok := strings.CutSuffix(strings.ToLower(kind), "y"); ok {
		return k + "ies"
	}
	return strings.ToLower(kind) + "s"
}

// listOf returns an empty list of kind, from the backend's scheme.
func listOf(kind string) (client.ObjectList, error) {
	for gvk := range scheme.Scheme.AllKnownTypes() {
		if gvk.Kind == kind+"List" && (gvk.Version == "v1" || gvk.Group == kubebindv1alpha1.SchemeGroupVersion.Group) {
			obj, err := scheme.Scheme.New(gvk)
			if err != nil {
				return nil, err
			}
			if list, ok := obj.(client.ObjectList); ok {
				return list, nil
			}
		}
	}
	return nil, fmt.Errorf("no list of %s in the scheme", kind)
}
