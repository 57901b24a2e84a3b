package main_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/bindery-dev/bindery/apis/crds"
	"github.com/bindery-dev/bindery/test/framework"
)

// copyObjects is how many copies each round of BenchmarkCopyMetadata
// writes.
const copyObjects = 2000

// BenchmarkCopyMetadata measures what the metadata a konnector puts on
// each provider copy (its labels and origin and hash annotations, taken
// from a real copy) costs the provider's API server: 32 clients create
// copies and write their status, as the konnector and an operator do, once
// bare and once stamped, in rounds that take turns to go first. It
// reports the API server's CPU per copy, the median of the rounds.
func BenchmarkCopyMetadata(b *testing.B) {
	cons, prov, _, _ := setup(b, []string{"default"})
	ctx := b.Context()
	cd, pd := fastClient(b, cons), fastClient(b, prov)

	// A real copy's labels and annotations.
	_, err := cd.Resource(framework.Databases).Namespace("default").Create(ctx, database("default", "template"), metav1.CreateOptions{})
	require.NoError(b, err)
	var stamp *unstructured.Unstructured
	framework.Eventually(b, func() (bool, string) {
		stamp, err = pd.Resource(framework.Databases).Namespace(framework.ClusterNS+"-default").Get(ctx, "template", metav1.GetOptions{})
		return err == nil, fmt.Sprint(err)
	}, framework.WaitTimeout)

	rawCRD := framework.SimpleCRD(rawDatabases.Group, rawDatabases.Resource, "Database", apiextensionsv1.NamespaceScoped)
	require.NoError(b, prov.Client.Create(ctx, rawCRD))
	require.NoError(b, crds.WaitEstablished(ctx, prov.Client, rawCRD.Name))
	require.NoError(b, prov.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "raw-copies"}}))
	rc := pd.Resource(rawDatabases).Namespace("raw-copies")

	round := 0
	apiserverMs := func(stamped bool) float64 {
		round++
		cpu0, err := prov.CPUSeconds()
		require.NoError(b, err)
		parallel(b, copyObjects, burstWorkers, func(i int) error {
			o := rawObject("raw-copies", fmt.Sprintf("c%d-%05d", round, i))
			if stamped {
				o.SetLabels(stamp.GetLabels())
				o.SetAnnotations(stamp.GetAnnotations())
			}
			created, err := rc.Create(ctx, o, metav1.CreateOptions{FieldManager: "bindery-konnector"})
			if err != nil {
				return err
			}
			created.Object["status"] = map[string]any{"phase": "Ready"}
			_, err = rc.UpdateStatus(ctx, created, metav1.UpdateOptions{})
			return err
		})
		cpu1, err := prov.CPUSeconds()
		require.NoError(b, err)
		require.NoError(b, rc.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}))
		return (cpu1["kube-apiserver"] - cpu0["kube-apiserver"]) * 1000 / copyObjects
	}
	apiserverMs(true) // warms the API server's caches of the CRD

	for b.Loop() {
		var bare, stamped []float64
		for r := range 4 {
			inTurns(r,
				func() { bare = append(bare, apiserverMs(false)) },
				func() { stamped = append(stamped, apiserverMs(true)) })
		}
		b.ReportMetric(median(bare), "bare-apiserver-cpu-ms/copy")
		b.ReportMetric(median(stamped), "stamped-apiserver-cpu-ms/copy")
		b.ReportMetric(median(stamped)-median(bare), "metadata-apiserver-cpu-ms/copy")
	}
	b.ReportMetric(float64(len(stamp.GetLabels())), "labels/copy")
	b.ReportMetric(float64(len(stamp.GetAnnotations())), "annotations/copy")
	b.ReportMetric(0, "ns/op")
}
