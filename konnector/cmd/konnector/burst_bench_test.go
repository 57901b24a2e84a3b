package main_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"

	"github.com/bindery-dev/bindery/apis/crds"
	"github.com/bindery-dev/bindery/test/framework"
)

// A burst, as users make one: many clients create objects in the consumer
// at once while an operator on the provider writes each copy's status. It
// is measured against what the machine allows in the same run: a client
// doing itself, on an unsynced copy of the CRD, the writes any
// spec-down/status-up sync needs.

// burstWorkers is how many clients create (and delete) at once.
const burstWorkers = 32

// rawDatabases is the unsynced copy of the bound CRD that the limit is
// measured on: same schema, another group, bound by nothing.
var rawDatabases = schema.GroupVersionResource{Group: "raw.example.com", Version: "v1", Resource: "databases"}

// BenchmarkBurst measures a burst of objects from 32 clients, with an
// operator writing status on the provider, at 1,000 and 10,000 objects
// and over 100 namespaces. Each case reports, from one run:
//
//   - the limit: 32 clients doing the minimal write set of a sync
//     themselves (create and mark in the consumer, create and write status
//     on the provider, write the consumer's status), and deleting (delete
//     in the consumer, delete on the provider, release), in objects/s;
//   - the synced round trip, to the last status back in the consumer, and
//     deletion, to the last consumer object gone, in objects/s and as a
//     fraction of the limit;
//   - the writes per object of both clusters, from the API servers' own
//     counters, in total and by cluster, verb and resource;
//   - each object's down latency (created in the consumer to its copy on
//     the provider, and the part of it until the consumer's watch shows
//     the object) and up latency (status written on the provider to the
//     consumer's status), p50 and p99, against the time the raw burst of
//     creates just before it takes, and the same latencies without a
//     konnector: the sync's writes done by the benchmark as each object
//     is created and as each status appears (the best any sync reaches
//     here); the p99s against the raw burst also as the median of the
//     rounds, each synced burst after a raw burst of its own;
//   - the konnector's peak RSS, its RSS growth per 1,000 objects, and its
//     CPU.
func BenchmarkBurst(b *testing.B) {
	for _, c := range []struct{ objects, namespaces int }{{1000, 1}, {10000, 1}, {1000, 100}} {
		b.Run(fmt.Sprintf("objects=%d,namespaces=%d", c.objects, c.namespaces), func(b *testing.B) {
			runBurst(b, c.objects, burstNamespaces(c.namespaces))
		})
	}
}

func burstNamespaces(n int) []string {
	if n == 1 {
		return []string{"default"}
	}
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("ns-%03d", i)
	}
	return out
}

func runBurst(b *testing.B, n int, namespaces []string) {
	pprofAddr := fmt.Sprintf("127.0.0.1:%d", framework.FreePort(b))
	cons, prov, _, p := setup(b, namespaces, "--pprof-bind-address="+pprofAddr)
	prof := profiler{dir: os.Getenv("BENCH_PROFILE_DIR"), konnector: "http://" + pprofAddr, cons: cons, prov: prov}
	m := meter{cons: cons, prov: prov, konnector: p}
	ctx := b.Context()
	cd, pd := fastClient(b, cons), fastClient(b, prov)
	rawCRD := framework.SimpleCRD(rawDatabases.Group, rawDatabases.Resource, "Database", apiextensionsv1.NamespaceScoped)
	for _, c := range []*framework.Cluster{cons, prov} {
		require.NoError(b, c.Client.Create(ctx, rawCRD.DeepCopy()))
		require.NoError(b, crds.WaitEstablished(ctx, c.Client, rawCRD.Name))
	}
	// The controller managers (garbage collector, quota) watch every
	// resource, the synced CRD's since the setup; they find a new CRD by
	// discovery, every 30 s. Until they watch the raw CRD too, the limit
	// would run with fewer watches to feed than the synced run.
	for _, c := range []*framework.Cluster{cons, prov} {
		framework.Eventually(b, func() (bool, string) {
			n := c.Watches(b, rawDatabases.Group, rawDatabases.Resource)
			return n > 0, fmt.Sprintf("%s: %d watches of the raw CRD", c.Name, n)
		}, 2*time.Minute)
	}
	for _, ns := range namespaces {
		require.NoError(b, prov.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "raw-" + ns}}))
	}
	nsOf := func(i int) string { return namespaces[i%len(namespaces)] }
	// Every namespace has its provider namespace before the burst, as
	// after a team's first object.
	warmUp(b, cd, pd, namespaces)

	// runLimit runs the limit and its deletion; runSynced the synced
	// burst and its deletion, calling before and after around the burst.
	// The two are watched alike: the observer's informers load the API
	// servers the same in both.
	runLimit := func(during func(*testing.B, string) func()) (limit, limitDelete run) {
		rawObs := observe(b, cd, pd, rawDatabases, "l-", n, false)
		defer rawObs.stop()
		limit = m.measure(b, during(b, "limit"), func() {
			parallel(b, n, burstWorkers, func(i int) error { return minimalSync(ctx, cd, pd, nsOf(i), fmt.Sprintf("l-%05d", i)) })
		})
		limitDelete = m.measure(b, during(b, "limit-delete"), func() {
			parallel(b, n, burstWorkers, func(i int) error { return minimalDelete(ctx, cd, pd, nsOf(i), fmt.Sprintf("l-%05d", i)) })
		})
		return limit, limitDelete
	}
	runSynced := func(during func(*testing.B, string) func(), before, after func()) (synced, deleted run, obs *observer) {
		obs = observe(b, cd, pd, framework.Databases, "b-", n, true)
		defer obs.stop()
		before()
		synced = m.measure(b, during(b, "synced"), func() {
			parallel(b, n, burstWorkers, func(i int) error {
				name := fmt.Sprintf("b-%05d", i)
				obs.created(name)
				_, err := cd.Resource(framework.Databases).Namespace(nsOf(i)).Create(ctx, database(nsOf(i), name), metav1.CreateOptions{})
				return err
			})
			obs.wait(b, &obs.synced, n)
		})
		after()
		deleted = m.measure(b, during(b, "deleted"), func() {
			parallel(b, n, burstWorkers, func(i int) error {
				return cd.Resource(framework.Databases).Namespace(nsOf(i)).Delete(ctx, fmt.Sprintf("b-%05d", i), metav1.DeleteOptions{})
			})
			obs.wait(b, &obs.deletes, n)
		})
		return synced, deleted, obs
	}

	// runRaw runs the raw burst, which the synced burst's latencies are
	// compared with, just before it: 32 clients creating in the
	// consumer, no sync.
	runRaw := func() time.Duration {
		start := time.Now()
		parallel(b, n, burstWorkers, func(i int) error {
			_, err := cd.Resource(rawDatabases).Namespace(nsOf(i)).Create(ctx, rawObject(nsOf(i), fmt.Sprintf("r-%05d", i)), metav1.CreateOptions{})
			return err
		})
		took := time.Since(start)
		for _, ns := range namespaces {
			require.NoError(b, cd.Resource(rawDatabases).Namespace(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}))
		}
		return took
	}

	// Each run on the same clusters costs the machine more per object
	// than the one before: at 10,000 objects, the limit, the ideal sync
	// and the synced burst took 19.1, 20.3 and 29.5 ms of CPU per object
	// in that order, and the synced burst, the limit and the ideal sync
	// 27.6, 28.2 and 31.6 ms in that one. So what is compared is measured
	// side by side, and x-limit in both orders.
	for b.Loop() {
		limit, limitDelete := runLimit(prof.during)

		// The best any sync does on this machine during the same burst:
		// the sync's writes, done without a konnector as each object is
		// created and as each status appears, watched alike.
		idealDown, idealUp, ideal := idealBurst(b, m, cd, pd, n, namespaces)

		rawBurst := runRaw()
		var rss0, rss1, live float64
		synced, deleted, obs := runSynced(prof.during, func() {
			rss0 = rss(b, p, "VmRSS")
			// What the RSS before the burst holds: the program's own
			// pages (file) and its memory (anonymous): the heap and the
			// goroutines' stacks.
			b.ReportMetric(rss(b, p, "RssFile"), "rss-before-file-MiB")
			b.ReportMetric(rss(b, p, "RssAnon"), "rss-before-anon-MiB")
			before := prof.memStats(b, false)
			b.ReportMetric(before["HeapInuse"], "heap-before-MiB")
			b.ReportMetric(before["Stack"], "stacks-before-MiB")
			b.ReportMetric(before["Goroutines"], "goroutines-before")
		}, func() {
			rss1 = rss(b, p, "VmRSS")
			prof.heap(b, "synced")
			live = prof.memStats(b, true)["HeapAlloc"]
		})

		// The machine's speed drifts by up to 30 % between runs minutes
		// apart, more than the gap measured: more rounds, the synced burst
		// (after a raw burst of its own) and the limit taking turns to go
		// first, give x-limit and the latencies against the raw burst as
		// their medians.
		rate := func(r run) float64 { return float64(n) / r.took.Seconds() }
		ratios := []float64{rate(synced) / rate(limit)}
		// How far the machine's speed moved over the rounds: the limit's
		// own clients do the same work in every round, so their CPU per
		// object moves with the speed alone (the limit's machine CPU
		// per object over theirs stayed within 6.9-7.6 in ten runs on
		// 1 December, while each moved by up to 1.5 x).
		clientCPU := func(r run) float64 { return ms(r.cpuBy["benchmark"]) / float64(n) }
		limitClient := []float64{clientCPU(limit)}
		// downRatios and upRatios are each round's p99s against its raw
		// burst, the first round's first.
		var downRatios, upRatios []float64
		addLatencies := func(down, up []time.Duration, raw time.Duration) {
			downRatios = append(downRatios, p99Over(down, raw))
			upRatios = append(upRatios, p99Over(up, raw))
		}
		down, up := obs.latencies()
		addLatencies(down, up, rawBurst)
		for round := range extraRounds(n) {
			var s, l run
			inTurns(round,
				func() {
					raw := runRaw()
					var o *observer
					s, _, o = runSynced(noProfile, func() {}, func() {})
					d, u := o.latencies()
					addLatencies(d, u, raw)
				},
				func() { l, _ = runLimit(noProfile) })
			ratios = append(ratios, rate(s)/rate(l))
			limitClient = append(limitClient, clientCPU(l))
		}
		b.ReportMetric(median(ratios), "x-limit")
		reportSpread(b, ratios, "x-limit")
		b.ReportMetric(median(limitClient), "rounds-limit-client-cpu-ms/object")
		reportSpread(b, limitClient, "rounds-limit-client-cpu-ms/object")
		b.ReportMetric(median(downRatios), "rounds-p99-down/raw-burst")
		reportSpread(b, downRatios, "rounds-p99-down/raw-burst")
		b.ReportMetric(median(upRatios), "rounds-p99-up/raw-burst")
		reportSpread(b, upRatios, "rounds-p99-up/raw-burst")
		b.ReportMetric(float64(len(ratios)), "rounds")

		perObject := func(r framework.Requests) float64 { return r.Total() / float64(n) }
		writes := func(r run) float64 { return perObject(r.consumer.Writes()) + perObject(r.provider.Writes()) }
		reads := func(r run) float64 { return perObject(r.consumer.Reads()) + perObject(r.provider.Reads()) }
		b.ReportMetric(rawBurst.Seconds(), "raw-burst-s")
		b.ReportMetric(rate(limit), "limit-objects/s")
		b.ReportMetric(rate(synced), "synced-objects/s")
		b.ReportMetric(writes(limit), "limit-writes/object")
		b.ReportMetric(writes(synced), "writes/object")
		b.ReportMetric(reads(synced), "reads/object")
		cpuPerObject := func(r run) float64 { return ms(r.cpu) / float64(n) }
		b.ReportMetric(cpuPerObject(limit), "limit-machine-cpu-ms/object")
		b.ReportMetric(cpuPerObject(ideal), "ideal-machine-cpu-ms/object")
		b.ReportMetric(cpuPerObject(synced), "machine-cpu-ms/object")
		busy := func(r run) float64 { return r.cpu.Seconds() / r.took.Seconds() / float64(runtime.NumCPU()) }
		b.ReportMetric(busy(limit), "limit-machine-busy")
		b.ReportMetric(busy(synced), "machine-busy")
		reportWrites(b, "sync", synced, n)
		reportWrites(b, "limit", limit, n)
		// Watches that ended during a run: a client's watch times out
		// after 5-10 minutes, so more than a few during one run ended
		// for another reason, and each is watched again. So far every
		// one was closed by the API server because its client fell
		// behind (terminated), in the ideal sync as in the synced burst.
		for _, side := range []struct {
			name          string
			r, terminated func(run) framework.Requests
		}{
			{"consumer", func(r run) framework.Requests { return r.consumer }, func(r run) framework.Requests { return r.consumerTerminated }},
			{"provider", func(r run) framework.Requests { return r.provider }, func(r run) framework.Requests { return r.providerTerminated }},
		} {
			for _, c := range []struct {
				prefix string
				r      run
			}{{"limit-", limit}, {"ideal-", ideal}, {"", synced}} {
				b.ReportMetric(side.r(c.r).WatchesEnded().Total(), c.prefix+"watches-ended:"+side.name)
				b.ReportMetric(side.terminated(c.r).Total(), c.prefix+"watches-terminated:"+side.name)
			}
			for kind, v := range side.r(synced).WatchesEnded() {
				b.ReportMetric(v, "watches-ended:"+side.name+":"+kind.Resource)
			}
		}
		reportCPU(b, "limit", limit, n)
		reportCPU(b, "ideal", ideal, n)
		reportCPU(b, "sync", synced, n)

		b.ReportMetric(ms(percentile(down, 50)), "burst-p50-down-ms")
		b.ReportMetric(ms(percentile(down, 99)), "burst-p99-down-ms")
		watched := obs.watchLatencies()
		b.ReportMetric(ms(percentile(watched, 50)), "burst-p50-down-watch-ms")
		b.ReportMetric(ms(percentile(watched, 99)), "burst-p99-down-watch-ms")
		b.ReportMetric(ms(percentile(up, 50)), "burst-p50-up-ms")
		b.ReportMetric(ms(percentile(up, 99)), "burst-p99-up-ms")
		b.ReportMetric(downRatios[0], "p99-down/raw-burst")
		b.ReportMetric(upRatios[0], "p99-up/raw-burst")
		b.ReportMetric(rate(ideal), "ideal-objects/s")
		b.ReportMetric(ms(percentile(idealDown, 99)), "ideal-burst-p99-down-ms")
		b.ReportMetric(ms(percentile(idealUp, 99)), "ideal-burst-p99-up-ms")
		b.ReportMetric(p99Over(idealDown, rawBurst), "ideal-p99-down/raw-burst")
		b.ReportMetric(p99Over(idealUp, rawBurst), "ideal-p99-up/raw-burst")

		b.ReportMetric(rate(limitDelete), "limit-deleted/s")
		b.ReportMetric(rate(deleted), "deleted/s")
		b.ReportMetric(rate(deleted)/rate(limitDelete), "x-limit-delete")
		b.ReportMetric(writes(limitDelete), "limit-delete-writes/object")
		b.ReportMetric(writes(deleted), "delete-writes/object")
		b.ReportMetric(reads(deleted), "delete-reads/object")

		konnectorCPU := synced.cpuBy["konnector"]
		b.ReportMetric(konnectorCPU.Seconds()/synced.took.Seconds(), "konnector-cores")
		b.ReportMetric(ms(konnectorCPU)/float64(n), "konnector-cpu-ms/object")
		b.ReportMetric(rss0, "rss-before-MiB")
		b.ReportMetric((rss1-rss0)/(float64(n)/1000), "rss-MiB-per-1000")
		b.ReportMetric(live, "live-heap-MiB")
	}
	b.ReportMetric(rss(b, p, "VmHWM"), "peak-MiB")
	b.ReportMetric(0, "ns/op")
}

// extraRounds is how many more rounds of the limit and the synced burst
// measure x-limit: three at 1,000 objects, one at 10,000, which take
// minutes each. The first round runs the limit first, and the extra ones
// take turns starting with the synced burst, so each order runs as often
// as the other.
func extraRounds(n int) int {
	if n > 1000 {
		return 1
	}
	return 3
}

// inTurns runs a and then b in even rounds, b and then a in odd ones: each
// run on the same clusters costs more than the one before, so neither
// always takes the later place.
func inTurns(round int, a, b func()) {
	if round%2 == 0 {
		a()
		b()
		return
	}
	b()
	a()
}

// reportSpread reports the smallest and the largest of a figure's
// values over the rounds, as name-min and name-max.
func reportSpread(b *testing.B, values []float64, name string) {
	b.ReportMetric(slices.Min(values), name+"-min")
	b.ReportMetric(slices.Max(values), name+"-max")
}

// median is the middle of values, or the mean of the two middle ones.
func median(values []float64) float64 {
	v := slices.Sorted(slices.Values(values))
	mid := len(v) / 2
	if len(v)%2 == 0 {
		return (v[mid-1] + v[mid]) / 2
	}
	return v[mid]
}

// TestRounds: x-limit's rounds take turns to go first, so that with
// extraRounds each order runs as often as the other, and their median is
// the middle ratio, or the mean of the two middle ones.
func TestRounds(t *testing.T) {
	for _, n := range []int{1000, 10000} {
		first := map[string]int{"limit": 1} // the first round's order
		for round := range extraRounds(n) {
			var order []string
			inTurns(round, func() { order = append(order, "synced") }, func() { order = append(order, "limit") })
			first[order[0]]++
		}
		assert.Equal(t, first["limit"], first["synced"], "%d objects: rounds by the order they ran in", n)
	}
	for _, tt := range []struct {
		values []float64
		want   float64
	}{
		{[]float64{0.9}, 0.9},
		{[]float64{0.9, 0.7, 0.8}, 0.8},
		{[]float64{1.0, 0.6, 0.8, 0.7}, 0.75},
	} {
		assert.InDelta(t, tt.want, median(tt.values), 1e-9, "median of %v", tt.values)
	}
}

// noProfile stands for profiler.during in rounds that take no profiles.
func noProfile(*testing.B, string) func() { return func() {} }

// warmUp syncs one object in each namespace and deletes it again.
func warmUp(b *testing.B, cd, pd dynamic.Interface, namespaces []string) {
	ctx := b.Context()
	for _, ns := range namespaces {
		_, err := cd.Resource(framework.Databases).Namespace(ns).Create(ctx, database(ns, "warm-up"), metav1.CreateOptions{})
		require.NoError(b, err)
	}
	for _, ns := range namespaces {
		framework.Eventually(b, func() (bool, string) {
			_, err := pd.Resource(framework.Databases).Namespace(framework.ClusterNS+"-"+ns).Get(ctx, "warm-up", metav1.GetOptions{})
			return err == nil, fmt.Sprintf("the warm-up copy of %s: %v", ns, err)
		}, framework.WaitTimeout)
		require.NoError(b, cd.Resource(framework.Databases).Namespace(ns).Delete(ctx, "warm-up", metav1.DeleteOptions{}))
	}
	for _, ns := range namespaces {
		framework.Eventually(b, func() (bool, string) {
			_, err := cd.Resource(framework.Databases).Namespace(ns).Get(ctx, "warm-up", metav1.GetOptions{})
			return apierrors.IsNotFound(err), fmt.Sprintf("the warm-up object of %s is still there: %v", ns, err)
		}, framework.WaitTimeout)
	}
}

func rawObject(ns, name string) *unstructured.Unstructured {
	u := database(ns, name)
	u.SetAPIVersion(rawDatabases.GroupVersion().String())
	return u
}

// rawFinalizer stands in for the konnector's finalizer in the limit.
const rawFinalizer = "raw.example.com/sync"

// minimalSync does, in order, the writes a spec-down/status-up sync of one
// object needs: create it in the consumer, mark it (finalizer and synced
// generation, one write), create its copy on the provider, write the
// copy's status (the operator), and write the consumer's status.
func minimalSync(ctx context.Context, cd, pd dynamic.Interface, ns, name string) error {
	crc := cd.Resource(rawDatabases).Namespace(ns)
	obj, err := crc.Create(ctx, rawObject(ns, name), metav1.CreateOptions{})
	if err != nil {
		return err
	}
	obj.SetFinalizers([]string{rawFinalizer})
	obj.SetAnnotations(map[string]string{"raw.example.com/synced-generation": "1"})
	if obj, err = crc.Update(ctx, obj, metav1.UpdateOptions{}); err != nil {
		return err
	}
	prc := pd.Resource(rawDatabases).Namespace("raw-" + ns)
	cp, err := prc.Create(ctx, rawObject("raw-"+ns, name), metav1.CreateOptions{})
	if err != nil {
		return err
	}
	status := map[string]any{"phase": "Ready"}
	cp.Object["status"] = status
	if _, err := prc.UpdateStatus(ctx, cp, metav1.UpdateOptions{}); err != nil {
		return err
	}
	obj.Object["status"] = status
	_, err = crc.UpdateStatus(ctx, obj, metav1.UpdateOptions{})
	return err
}

// minimalDelete does the writes deleting a synced object needs: delete it
// in the consumer (its finalizer holds it), delete the copy, release it.
func minimalDelete(ctx context.Context, cd, pd dynamic.Interface, ns, name string) error {
	crc := cd.Resource(rawDatabases).Namespace(ns)
	if err := crc.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		return err
	}
	if err := pd.Resource(rawDatabases).Namespace("raw-"+ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		return err
	}
	_, err := crc.Patch(ctx, name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
	return err
}

// idealBurst is the synced burst without a konnector, on the unsynced
// copy of the CRD: 32 clients create n objects in the consumer and, as
// each create returns, one of 32 workers creates its copy on the provider
// and marks it (the konnector's down writes, in its order); the
// observer's operator writes each copy's status, and as each status
// appears on the provider, a worker writes it to the consumer. No queue,
// cache or retry: the down and up latencies any sync could reach on this
// machine during the same burst, measured as the synced run's are, and
// how long it took to the last status back.
func idealBurst(b *testing.B, m meter, cd, pd dynamic.Interface, n int, namespaces []string) (down, up []time.Duration, r run) {
	ctx, cancel := context.WithCancel(b.Context())
	obs := observe(b, cd, pd, rawDatabases, "i-", n, true)
	// A status may be seen more than once.
	created, statuses := make(chan *unstructured.Unstructured, n), make(chan *unstructured.Unstructured, 2*n)
	pf := dynamicinformer.NewDynamicSharedInformerFactory(pd, 0)
	_, err := pf.ForResource(rawDatabases).Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj any) {
			u := obj.(*unstructured.Unstructured)
			if phase, _, _ := unstructured.NestedString(u.Object, "status", "phase"); phase == "Ready" && strings.HasPrefix(u.GetName(), "i-") {
				statuses <- u
			}
		},
	})
	require.NoError(b, err)
	pf.Start(ctx.Done())
	pf.WaitForCacheSync(ctx.Done())
	var failed atomic.Pointer[error]
	fail := func(err error) {
		if err != nil && ctx.Err() == nil {
			failed.CompareAndSwap(nil, &err)
		}
	}
	mark := []byte(`{"metadata":{"annotations":{"raw.example.com/synced-generation":"1"}}}`)
	ready := []byte(`{"status":{"phase":"Ready"}}`)
	var wg sync.WaitGroup
	for range burstWorkers {
		wg.Go(func() {
			for obj := range created {
				ns, name := obj.GetNamespace(), obj.GetName()
				_, err := pd.Resource(rawDatabases).Namespace("raw-"+ns).Create(ctx, rawObject("raw-"+ns, name), metav1.CreateOptions{})
				fail(err)
				_, err = cd.Resource(rawDatabases).Namespace(ns).Patch(ctx, name, types.MergePatchType, mark, metav1.PatchOptions{})
				fail(err)
			}
		})
		wg.Go(func() {
			for {
				select {
				case u := <-statuses:
					ns := strings.TrimPrefix(u.GetNamespace(), "raw-")
					_, err := cd.Resource(rawDatabases).Namespace(ns).Patch(ctx, u.GetName(), types.MergePatchType, ready, metav1.PatchOptions{}, "status")
					fail(err)
				case <-ctx.Done():
					return
				}
			}
		})
	}
	nsOf := func(i int) string { return namespaces[i%len(namespaces)] }
	r = m.measure(b, func() {}, func() {
		parallel(b, n, burstWorkers, func(i int) error {
			name := fmt.Sprintf("i-%05d", i)
			obs.created(name)
			obj, err := cd.Resource(rawDatabases).Namespace(nsOf(i)).Create(ctx, rawObject(nsOf(i), name), metav1.CreateOptions{})
			if err == nil {
				created <- obj
			}
			return err
		})
		close(created)
		obs.wait(b, &obs.synced, n)
	})
	cancel()
	wg.Wait()
	pf.Shutdown()
	obs.stop()
	if err := failed.Load(); err != nil {
		b.Fatalf("the sync without a konnector: %v", *err)
	}
	for _, ns := range namespaces {
		require.NoError(b, cd.Resource(rawDatabases).Namespace(ns).DeleteCollection(b.Context(), metav1.DeleteOptions{}, metav1.ListOptions{}))
		require.NoError(b, pd.Resource(rawDatabases).Namespace("raw-"+ns).DeleteCollection(b.Context(), metav1.DeleteOptions{}, metav1.ListOptions{}))
	}
	down, up = obs.latencies()
	return down, up, r
}

// run is what a measured run asked of each cluster, and how long it
// took.
type run struct {
	consumer, provider framework.Requests
	// consumerTerminated and providerTerminated are the watches each API
	// server closed meanwhile because their client fell behind.
	consumerTerminated, providerTerminated framework.Requests
	took                                   time.Duration
	// cpu is what the whole machine spent meanwhile, all processes; cpuBy
	// splits it by process (see meter.cpu), the rest is "other".
	cpu   time.Duration
	cpuBy map[string]time.Duration
}

// meter measures runs on both clusters with the konnector running.
type meter struct {
	cons, prov *framework.Cluster
	konnector  *framework.Process
}

// measure runs f and returns the requests both API servers served
// meanwhile and the CPU spent; profiled ends when the profiles taken
// meanwhile are written.
func (m meter) measure(b *testing.B, profiled func(), f func()) run {
	b.Helper()
	defer profiled()
	c0, ct0 := m.cons.RequestsAndTerminatedWatches(b)
	p0, pt0 := m.prov.RequestsAndTerminatedWatches(b)
	busy0, _ := machineBusy(b)
	cpu0 := m.cpu(b)
	start := time.Now()
	f()
	took := time.Since(start)
	cpu1 := m.cpu(b)
	busy1, _ := machineBusy(b)
	c1, ct1 := m.cons.RequestsAndTerminatedWatches(b)
	p1, pt1 := m.prov.RequestsAndTerminatedWatches(b)
	r := run{
		consumer: c1.Since(c0), provider: p1.Since(p0), took: took,
		consumerTerminated: ct1.Since(ct0), providerTerminated: pt1.Since(pt0),
		cpu:   time.Duration((busy1 - busy0) * float64(time.Second)),
		cpuBy: map[string]time.Duration{},
	}
	other := r.cpu
	for k, v := range cpu1 {
		d := time.Duration((v - cpu0[k]) * float64(time.Second))
		r.cpuBy[k] = d
		other -= d
	}
	r.cpuBy["other"] = other
	return r
}

// cpu returns the CPU seconds each process has used: each cluster's
// programs ("consumer:kube-apiserver", "provider:etcd", …), the
// konnector, and this process ("benchmark": its clients, informers and
// the provider's stand-in operator).
func (m meter) cpu(b *testing.B) map[string]float64 {
	b.Helper()
	out := map[string]float64{"konnector": cpuSeconds(b, m.konnector)}
	for _, c := range []*framework.Cluster{m.cons, m.prov} {
		byProgram, err := c.CPUSeconds()
		require.NoError(b, err)
		for program, s := range byProgram {
			out[c.Name+":"+program] = s
		}
	}
	var self syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &self))
	out["benchmark"] = time.Duration(syscall.TimevalToNsec(self.Utime) + syscall.TimevalToNsec(self.Stime)).Seconds()
	return out
}

// reportCPU reports the CPU a run spent per object, by process: where
// the machine's time goes.
func reportCPU(b *testing.B, name string, r run, n int) {
	for process, d := range r.cpuBy {
		b.ReportMetric(ms(d)/float64(n), fmt.Sprintf("%s-cpu-ms/object:%s", name, process))
	}
}

// profiler takes CPU profiles of both API servers and the konnector, and
// the API servers' allocations, while a run goes on, when
// BENCH_PROFILE_DIR names a folder for them: where the time goes.
type profiler struct {
	dir, konnector string
	cons, prov     *framework.Cluster
}

// profileSeconds is how long each profile samples; runs of 1,000 objects
// take longer.
const profileSeconds = 8

// during starts the profiles of a run and returns a function that waits
// for them and writes them to <dir>/<benchmark>-<run>-<process>.pprof.
func (p profiler) during(b *testing.B, run string) (written func()) {
	if p.dir == "" {
		return func() {}
	}
	ctx := b.Context()
	var wg sync.WaitGroup
	save := func(process string, get func() ([]byte, error)) {
		wg.Go(func() {
			raw, err := get()
			if err != nil {
				b.Errorf("profiling %s: %v", process, err)
				return
			}
			if err := os.WriteFile(filepath.Join(p.dir, p.name(b, run, process)), raw, 0o600); err != nil {
				b.Errorf("writing a profile: %v", err)
			}
		})
	}
	for _, c := range []*framework.Cluster{p.cons, p.prov} {
		// A heap profile shows allocations only once a garbage
		// collection has run after them: an API server idle before the
		// run would put the allocations of the run before (the cleanup
		// of the last one) into this run's. A collection first.
		_, err := c.Kube.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/heap").Param("gc", "1").DoRaw(ctx)
		require.NoError(b, err, "collecting garbage in the API server of %s", c.Name)
		pprof := func(what string) ([]byte, error) {
			return c.Kube.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/"+what).Param("seconds", strconv.Itoa(profileSeconds)).DoRaw(ctx)
		}
		save(c.Name+"-apiserver", func() ([]byte, error) { return pprof("profile") })
		// The heap's allocations over the same seconds (a delta profile):
		// which requests allocate how much, and so what the API server's
		// garbage collection costs.
		save(c.Name+"-apiserver-allocs", func() ([]byte, error) { return pprof("allocs") })
	}
	save("konnector", func() ([]byte, error) { return p.get(ctx, fmt.Sprintf("profile?seconds=%d", profileSeconds)) })
	return wg.Wait
}

// memStats returns the konnector's runtime.MemStats (as its heap
// profile prints them, "# HeapAlloc = …") in MiB, after a collection if
// gc, and its number of goroutines as "Goroutines".
func (p profiler) memStats(b *testing.B, gc bool) map[string]float64 {
	query := "heap?debug=1"
	if gc {
		query += "&gc=1"
	}
	raw, err := p.get(b.Context(), query)
	require.NoError(b, err)
	out := map[string]float64{}
	for _, line := range strings.Split(string(raw), "\n") {
		stat, isStat := strings.CutPrefix(line, "# ")
		name, value, ok := strings.Cut(stat, " = ")
		if !isStat || !ok {
			continue
		}
		// "Stack = 1234 / 5678": in use / from the OS.
		value, _, _ = strings.Cut(value, " ")
		if n, err := strconv.ParseFloat(value, 64); err == nil {
			out[name] = n / (1 << 20)
		}
	}
	require.Contains(b, out, "HeapAlloc", "no MemStats in the heap profile")
	raw, err = p.get(b.Context(), "goroutine?debug=1")
	require.NoError(b, err)
	first, _, _ := strings.Cut(string(raw), "\n")
	n, err := strconv.Atoi(strings.TrimPrefix(first, "goroutine profile: total "))
	require.NoError(b, err, "goroutine profile starts %q", first)
	out["Goroutines"] = float64(n)
	return out
}

// heap writes the konnector's heap profile after a run.
func (p profiler) heap(b *testing.B, run string) {
	if p.dir == "" {
		return
	}
	raw, err := p.get(b.Context(), "heap?gc=1")
	require.NoError(b, err)
	require.NoError(b, os.WriteFile(filepath.Join(p.dir, p.name(b, run, "konnector-heap")), raw, 0o600))
}

func (p profiler) name(b *testing.B, run, process string) string {
	return strings.NewReplacer("/", "-", ",", "-", "=", "").Replace(b.Name()) + "-" + run + "-" + process + ".pprof"
}

// get reads one of the konnector's pprof endpoints.
func (p profiler) get(ctx context.Context, what string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.konnector+"/debug/pprof/"+what, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close() //nolint:errcheck
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", what, resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// reportWrites reports the writes per object of a run by cluster, verb and
// resource; what is below 0.01 per object (leases, the heartbeat) is
// summed as "other".
func reportWrites(b *testing.B, name string, r run, n int) {
	for _, side := range []struct {
		name string
		reqs framework.Requests
	}{{"consumer", r.consumer.Writes()}, {"provider", r.provider.Writes()}} {
		var other float64
		for kind, v := range side.reqs {
			if per := v / float64(n); per >= 0.01 {
				b.ReportMetric(per, fmt.Sprintf("%s-writes/object:%s:%s", name, side.name, kind))
			} else {
				other += per
			}
		}
		b.ReportMetric(other, fmt.Sprintf("%s-writes/object:%s:other", name, side.name))
	}
}

// observer watches both clusters during the synced burst. It stands in
// for the provider's operator, writing each new copy's status, and
// records when each object was created, the consumer's watch showed it,
// its copy appeared, its status was written and came back, when it was
// synced (back and marked), and when it was gone.
type observer struct {
	mu                                          sync.Mutex
	createdAt, downAt, statusAt, upAt, syncedAt map[string]time.Time
	// watchedAt is when the consumer's watch showed each new object: the
	// earliest a sync can know of it.
	watchedAt map[string]time.Time
	// synced counts objects whose status is back and that carry the
	// sync's mark (a synced-generation annotation): a sync's writes are
	// done.
	synced, deletes atomic.Int64
	// failure is the operator's last failed write.
	failure error
	stop    func()
}

func observe(b *testing.B, cd, pd dynamic.Interface, gvr schema.GroupVersionResource, prefix string, n int, operate bool) *observer {
	b.Helper()
	ctx, cancel := context.WithCancel(b.Context())
	o := &observer{createdAt: map[string]time.Time{}, downAt: map[string]time.Time{}, statusAt: map[string]time.Time{}, upAt: map[string]time.Time{}, syncedAt: map[string]time.Time{}, watchedAt: map[string]time.Time{}}
	ours := func(obj any) (*unstructured.Unstructured, bool) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		u, ok := obj.(*unstructured.Unstructured)
		return u, ok && strings.HasPrefix(u.GetName(), prefix)
	}
	// Informers, not bare watches: under the burst an API server may
	// close a watch it finds slow, and an informer watches again.
	copies := make(chan *unstructured.Unstructured, n)
	if !operate {
		close(copies)
	}
	pf := dynamicinformer.NewDynamicSharedInformerFactory(pd, 0)
	_, err := pf.ForResource(gvr).Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if u, ok := ours(obj); ok && o.record(o.downAt, u.GetName()) && operate {
				copies <- u.DeepCopy()
			}
		},
	})
	require.NoError(b, err)
	seen := func(obj any) {
		if u, ok := ours(obj); ok {
			phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
			if phase != "Ready" {
				return
			}
			o.record(o.upAt, u.GetName())
			if marked(u) && o.record(o.syncedAt, u.GetName()) {
				o.synced.Add(1)
			}
		}
	}
	cf := dynamicinformer.NewDynamicSharedInformerFactory(cd, 0)
	_, err = cf.ForResource(gvr).Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if u, ok := ours(obj); ok {
				o.record(o.watchedAt, u.GetName())
			}
			seen(obj)
		},
		UpdateFunc: func(_, obj any) { seen(obj) },
		DeleteFunc: func(obj any) {
			if _, ok := ours(obj); ok {
				o.deletes.Add(1)
			}
		},
	})
	require.NoError(b, err)
	pf.Start(ctx.Done())
	cf.Start(ctx.Done())
	pf.WaitForCacheSync(ctx.Done())
	cf.WaitForCacheSync(ctx.Done())
	// The operator, if asked for: as many workers as clients, so that
	// it keeps up. Without one, copies are only counted.
	var wg sync.WaitGroup
	for range burstWorkers {
		wg.Go(func() {
			for {
				select {
				case u, ok := <-copies:
					if !ok {
						return
					}
					o.writeStatus(ctx, pd, gvr, u)
				case <-ctx.Done():
					return
				}
			}
		})
	}
	o.stop = func() {
		cancel()
		wg.Wait()
		pf.Shutdown()
		cf.Shutdown()
	}
	b.Cleanup(o.stop)
	return o
}

// marked reports whether a consumer object carries a sync's mark: the
// konnector's synced generation, or the limit's and the ideal sync's
// stand-in for it.
func marked(u *unstructured.Unstructured) bool {
	for k := range u.GetAnnotations() {
		if strings.HasSuffix(k, "/synced-generation") {
			return true
		}
	}
	return false
}

// record notes now as the first time of name in m; it reports whether it
// was the first.
func (o *observer) record(m map[string]time.Time, name string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := m[name]; ok {
		return false
	}
	m[name] = time.Now()
	return true
}

func (o *observer) created(name string) { o.record(o.createdAt, name) }

// writeStatus is the provider operator's status write of a new copy.
func (o *observer) writeStatus(ctx context.Context, pd dynamic.Interface, gvr schema.GroupVersionResource, u *unstructured.Unstructured) {
	rc := pd.Resource(gvr).Namespace(u.GetNamespace())
	for ctx.Err() == nil {
		u.Object["status"] = map[string]any{"phase": "Ready"}
		o.mu.Lock()
		o.statusAt[u.GetName()] = time.Now()
		o.mu.Unlock()
		_, err := rc.UpdateStatus(ctx, u, metav1.UpdateOptions{})
		if !apierrors.IsConflict(err) {
			if err != nil && ctx.Err() == nil {
				o.mu.Lock()
				o.failure = fmt.Errorf("the operator's status write of %s: %w", u.GetName(), err)
				o.mu.Unlock()
			}
			return
		}
		if u, err = rc.Get(ctx, u.GetName(), metav1.GetOptions{}); err != nil {
			return
		}
	}
}

// wait waits until c reaches n; the deadline grows with n.
func (o *observer) wait(b *testing.B, c *atomic.Int64, n int) {
	b.Helper()
	deadline := time.Now().Add(time.Minute + time.Duration(n)*20*time.Millisecond)
	for c.Load() < int64(n) {
		o.mu.Lock()
		failure := o.failure
		o.mu.Unlock()
		if failure != nil {
			b.Fatal(failure)
		}
		if time.Now().After(deadline) {
			o.mu.Lock()
			defer o.mu.Unlock()
			b.Fatalf("%d of %d by the deadline; %d created, %d copies seen, %d statuses written, %d statuses back, %d synced",
				c.Load(), n, len(o.createdAt), len(o.downAt), len(o.statusAt), len(o.upAt), len(o.syncedAt))
		}
		time.Sleep(time.Millisecond)
	}
}

// watchLatencies returns, for each object, how long the consumer's watch
// took to show it: the part of its down latency before any sync can act.
func (o *observer) watchLatencies() []time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []time.Duration
	for name, c := range o.createdAt {
		if w, ok := o.watchedAt[name]; ok {
			out = append(out, w.Sub(c))
		}
	}
	return out
}

// latencies returns each object's down and up latency.
func (o *observer) latencies() (down, up []time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for name, c := range o.createdAt {
		if d, ok := o.downAt[name]; ok {
			down = append(down, d.Sub(c))
		}
		if s, ok := o.statusAt[name]; ok {
			if u, ok := o.upAt[name]; ok {
				up = append(up, u.Sub(s))
			}
		}
	}
	return down, up
}

func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[(len(d)-1)*p/100]
}

// p99Over is the p99 of latencies d as a multiple of the raw burst raw.
func p99Over(d []time.Duration, raw time.Duration) float64 {
	return percentile(d, 99).Seconds() / raw.Seconds()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
