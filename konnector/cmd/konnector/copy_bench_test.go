package main_test

import (
	"fmt"
	"testing"
	"time"

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
// reports the API server's CPU per copy, the median of the rounds. Then,
// one copy at a time and bare and stamped in turns, as BenchmarkLatency's
// operator writes them, the latency of the status write: what the
// metadata adds to the first step of a status's way up.
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

	// writeCopy creates a copy and writes its status, as the konnector and
	// an operator do, and returns how long the status write took.
	writeCopy := func(name string, stamped bool) (time.Duration, error) {
		o := rawObject("raw-copies", name)
		if stamped {
			o.SetLabels(stamp.GetLabels())
			o.SetAnnotations(stamp.GetAnnotations())
		}
		created, err := rc.Create(ctx, o, metav1.CreateOptions{FieldManager: "bindery-konnector"})
		if err != nil {
			return 0, err
		}
		created.Object["status"] = map[string]any{"phase": "Ready"}
		start := time.Now()
		_, err = rc.UpdateStatus(ctx, created, metav1.UpdateOptions{})
		return time.Since(start), err
	}

	round := 0
	apiserverMs := func(stamped bool) float64 {
		round++
		cpu0, err := prov.CPUSeconds()
		require.NoError(b, err)
		parallel(b, copyObjects, burstWorkers, func(i int) error {
			_, err := writeCopy(fmt.Sprintf("c%d-%05d", round, i), stamped)
			return err
		})
		cpu1, err := prov.CPUSeconds()
		require.NoError(b, err)
		require.NoError(b, rc.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}))
		return (cpu1["kube-apiserver"] - cpu0["kube-apiserver"]) * 1000 / copyObjects
	}
	apiserverMs(true) // warms the API server's caches of the CRD

	// statusWrites times the status write of copies made one at a time,
	// as BenchmarkLatency's operator writes them, bare and stamped in
	// turns.
	statusWrites := func() (bare, stamped []time.Duration) {
		for i := range copyObjects {
			write := func(stamped bool, to *[]time.Duration) {
				d, err := writeCopy(fmt.Sprintf("p-%t-%05d", stamped, i), stamped)
				require.NoError(b, err)
				*to = append(*to, d)
				time.Sleep(time.Millisecond)
			}
			inTurns(i, func() { write(false, &bare) }, func() { write(true, &stamped) })
		}
		require.NoError(b, rc.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}))
		return bare, stamped
	}

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

		bareWrites, stampedWrites := statusWrites()
		for _, p := range []int{50, 99} {
			bareMs, stampedMs := ms(percentile(bareWrites, p)), ms(percentile(stampedWrites, p))
			b.ReportMetric(bareMs, fmt.Sprintf("bare-p%d-status-write-ms", p))
			b.ReportMetric(stampedMs, fmt.Sprintf("stamped-p%d-status-write-ms", p))
			b.ReportMetric(stampedMs/bareMs, fmt.Sprintf("x-bare-p%d-status-write", p))
		}
	}
	b.ReportMetric(float64(len(stamp.GetLabels())), "labels/copy")
	b.ReportMetric(float64(len(stamp.GetAnnotations())), "annotations/copy")
	b.ReportMetric(0, "ns/op")
}
