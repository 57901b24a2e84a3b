package main_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/util/conditions"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/bindery-dev/bindery/test/framework"
)

// The burst issue's figures for upstream kube-bind's konnector v0.4.6
// on this machine, for comparison.
const upstreamPeakMiB = 92.0

// cpuSeconds returns the CPU time process p has used.
func cpuSeconds(b *testing.B, p *framework.Process) float64 {
	b.Helper()
	s, err := p.CPUSeconds()
	require.NoError(b, err)
	return s
}

// rss returns a memory figure of process p in MiB: VmRSS or VmHWM.
func rss(b *testing.B, p *framework.Process, field string) float64 {
	b.Helper()
	mib, err := p.MemoryMiB(field)
	require.NoError(b, err)
	return mib
}

// machineBusy returns how long the machine's CPUs have been busy and
// their time in all, in seconds summed over CPUs.
func machineBusy(b *testing.B) (busy, total float64) {
	b.Helper()
	busy, total, err := framework.MachineCPUSeconds()
	require.NoError(b, err)
	return busy, total
}

// countOn watches a namespace and counts ADDED and DELETED events of
// Databases, so that waits end the moment the last object lands.
func countOn(b *testing.B, d dynamic.Interface, ns string) (added, deleted *atomic.Int64, stop func()) {
	b.Helper()
	w, err := d.Resource(framework.Databases).Namespace(ns).Watch(b.Context(), metav1.ListOptions{})
	require.NoError(b, err)
	added, deleted = &atomic.Int64{}, &atomic.Int64{}
	go func() {
		for ev := range w.ResultChan() {
			switch ev.Type {
			case watch.Added:
				added.Add(1)
			case watch.Deleted:
				deleted.Add(1)
			}
		}
	}()
	return added, deleted, w.Stop
}

func waitCount(b *testing.B, c *atomic.Int64, n int64) {
	b.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for c.Load() < n {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d after 5 minutes", c.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkSync1000 measures how fast 1,000 objects created in the
// consumer reach the provider, against how fast the same client creates
// them on the provider directly. Both are one client writing one object
// after another, as in the konnector issue's baseline (610 objects/s on
// this machine). It then measures how fast deleting them empties the
// provider, and the konnector's peak memory.
func BenchmarkSync1000(b *testing.B) {
	const n = 1000
	cons, prov, _, p := setup(b, []string{"default"})
	cd, pd := fastClient(b, cons), fastClient(b, prov)
	ctx := b.Context()
	require.NoError(b, prov.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "raw"}}))
	pns := framework.ClusterNS + "-default"
	raws := pd.Resource(framework.Databases).Namespace("raw")
	for round := 0; b.Loop(); round++ {
		// Baseline: one client creating directly on the provider; and,
		// for comparison, applying (what the konnector does on updates).
		rawBusy0, _ := machineBusy(b)
		start := time.Now()
		for i := range n {
			_, err := raws.Create(ctx, database("raw", fmt.Sprintf("r%d-%04d", round, i)), metav1.CreateOptions{})
			require.NoError(b, err)
		}
		raw := float64(n) / time.Since(start).Seconds()
		rawBusy1, _ := machineBusy(b)
		// What one object costs the whole machine, in CPU milliseconds.
		b.ReportMetric((rawBusy1-rawBusy0)*1000/n, "raw-cpu-ms/object")
		start = time.Now()
		for i := range n {
			name := fmt.Sprintf("a%d-%04d", round, i)
			_, err := raws.Apply(ctx, name, database("raw", name), metav1.ApplyOptions{FieldManager: "bench"})
			require.NoError(b, err)
		}
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "raw-applies/s")
		// The baseline's objects go, so that the provider holds no more
		// than in upstream's run.
		require.NoError(b, raws.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}))

		added, deleted, stop := countOn(b, pd, pns)
		cpu := cpuSeconds(b, p)
		busy0, total0 := machineBusy(b)
		start = time.Now()
		for i := range n {
			_, err := cd.Resource(framework.Databases).Namespace("default").Create(ctx, database("default", fmt.Sprintf("s%d-%04d", round, i)), metav1.CreateOptions{})
			require.NoError(b, err)
		}
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "consumer-creates/s")
		waitCount(b, added, n)
		synced := float64(n) / time.Since(start).Seconds()
		b.ReportMetric((cpuSeconds(b, p)-cpu)/time.Since(start).Seconds(), "konnector-cores")
		busy1, total1 := machineBusy(b)
		b.ReportMetric((busy1-busy0)/(total1-total0), "machine-busy")
		b.ReportMetric((busy1-busy0)*1000/n, "synced-cpu-ms/object")

		start = time.Now()
		for i := range n {
			require.NoError(b, cd.Resource(framework.Databases).Namespace("default").Delete(ctx, fmt.Sprintf("s%d-%04d", round, i), metav1.DeleteOptions{}))
		}
		waitCount(b, deleted, n)
		deletes := float64(n) / time.Since(start).Seconds()
		stop()

		b.ReportMetric(raw, "raw-creates/s")
		b.ReportMetric(synced, "synced/s")
		b.ReportMetric(synced/raw, "x-raw")
		b.ReportMetric(deletes, "deleted/s")
		b.ReportMetric(deletes/synced, "delete/create")
	}
	rss := rss(b, p, "VmHWM")
	b.ReportMetric(rss, "peak-MiB")
	b.ReportMetric(rss/upstreamPeakMiB, "x-upstream-MiB")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkLatency measures paced single-object latency: from creating an
// object in the consumer to its copy on the provider (down), and from a
// status write on the provider to the consumer's status (up). It measures
// upstream kube-bind v0.4.6's konnector in the same run, on clusters of
// its own, object by object in turn with Bindery's, so that the machine's
// drift during the run weighs on both alike, in three rounds of 1,000
// objects; each figure is the median of the rounds.
//
// Up is split in two: the operator's status write itself (the provider
// API server's latency, from the call to its answer) and what follows it
// (the konnector sees the copy's event, writes the consumer's status, and
// the consumer's watch brings it), so that a difference in up shows
// whether it is the konnector's.
func BenchmarkLatency(b *testing.B) {
	const n = 1000
	for b.Loop() {
		cons, prov, _, _ := setup(b, []string{"default"})
		ours := newPacer(b, cons, prov, "p")
		cons, prov, _, _ = setupWith(b, []string{"default"}, func(cons *framework.Cluster) *framework.Process { return startUpstreamKonnector(b, cons) })
		theirs := newPacer(b, cons, prov, "u")
		// A p99 of 1,000 objects is their ten slowest, and which API
		// server a rare slow write lands on moves it by a third from run
		// to run: each figure is the median of rounds, which take turns
		// to go first.
		figures := map[string][]float64{}
		for round := range latencyRounds {
			var ourTimes, upstreamTimes pacedTimes
			for i := range n {
				inTurns(round,
					func() { ourTimes = append(ourTimes, ours.one(round*n+i)) },
					func() { upstreamTimes = append(upstreamTimes, theirs.one(round*n+i)) })
			}
			for name, v := range ourTimes.figures(upstreamTimes) {
				figures[name] = append(figures[name], v)
			}
		}
		for name, v := range figures {
			b.ReportMetric(median(v), name)
		}
		reportSpread(b, figures["x-upstream-p99-up"], "x-upstream-p99-up")
		b.ReportMetric(latencyRounds, "rounds")
	}
	b.ReportMetric(0, "ns/op")
}

// latencyRounds is how many rounds of n paced objects BenchmarkLatency
// runs.
const latencyRounds = 3

// figures returns a round's figures: Bindery's (ts) and upstream's
// latencies, p50 and p99, and the ratios of their p99s.
func (ts pacedTimes) figures(upstream pacedTimes) map[string]float64 {
	out := map[string]float64{}
	for _, series := range []struct {
		name           string
		ours, upstream []time.Duration
	}{
		{"down", ts.down(), upstream.down()},
		{"up", ts.up(), upstream.up()},
		{"up-status-write", ts.statusWrite(), upstream.statusWrite()},
		{"up-after-write", ts.afterWrite(), upstream.afterWrite()},
	} {
		for _, p := range []int{50, 99} {
			out[fmt.Sprintf("p%d-%s-ms", p, series.name)] = ms(percentile(series.ours, p))
			out[fmt.Sprintf("upstream-p%d-%s-ms", p, series.name)] = ms(percentile(series.upstream, p))
		}
	}
	out["x-upstream-p99-down"] = out["p99-down-ms"] / out["upstream-p99-down-ms"]
	out["x-upstream-p99-up"] = out["p99-up-ms"] / out["upstream-p99-up-ms"]
	return out
}

// pacer creates objects in a consumer cluster one at a time, and times
// each one's way down and its status's way up.
type pacer struct {
	b              *testing.B
	prefix, pns    string
	cd, pd         dynamic.Interface
	consumerEvents watch.Interface
	providerEvents watch.Interface
}

func newPacer(b *testing.B, cons, prov *framework.Cluster, prefix string) *pacer {
	p := &pacer{b: b, prefix: prefix, pns: framework.ClusterNS + "-default", cd: fastClient(b, cons), pd: fastClient(b, prov)}
	ctx := b.Context()
	// Upstream's konnector may report the binding Ready before the
	// consumer serves the CRD it installs.
	framework.Eventually(b, func() (bool, string) {
		_, err := p.cd.Resource(framework.Databases).Namespace("default").List(ctx, metav1.ListOptions{})
		return err == nil, fmt.Sprintf("the consumer does not serve %s: %v", framework.Databases, err)
	}, framework.WaitTimeout)
	var err error
	p.providerEvents, err = p.pd.Resource(framework.Databases).Namespace(p.pns).Watch(ctx, metav1.ListOptions{})
	require.NoError(b, err)
	b.Cleanup(p.providerEvents.Stop)
	p.consumerEvents, err = p.cd.Resource(framework.Databases).Namespace("default").Watch(ctx, metav1.ListOptions{})
	require.NoError(b, err)
	b.Cleanup(p.consumerEvents.Stop)
	return p
}

// paced is when one paced object was created, reached the provider, had
// its status written there (the call and its answer) and came back.
type paced struct{ created, copied, statusCall, statusWritten, back time.Time }

// pacedTimes are the times of a paced run's objects.
type pacedTimes []paced

func (ts pacedTimes) each(f func(paced) time.Duration) []time.Duration {
	out := make([]time.Duration, len(ts))
	for i, t := range ts {
		out[i] = f(t)
	}
	return out
}

func (ts pacedTimes) down() []time.Duration {
	return ts.each(func(t paced) time.Duration { return t.copied.Sub(t.created) })
}

func (ts pacedTimes) up() []time.Duration {
	return ts.each(func(t paced) time.Duration { return t.back.Sub(t.statusCall) })
}

func (ts pacedTimes) statusWrite() []time.Duration {
	return ts.each(func(t paced) time.Duration { return t.statusWritten.Sub(t.statusCall) })
}

func (ts pacedTimes) afterWrite() []time.Duration {
	return ts.each(func(t paced) time.Duration { return t.back.Sub(t.statusWritten) })
}

// one creates object i, waits for its copy on the provider, writes the
// copy's status there and waits for it in the consumer, then pauses: the
// objects are paced, not a burst.
func (p *pacer) one(i int) (t paced) {
	defer time.Sleep(10 * time.Millisecond)
	b, ctx := p.b, p.b.Context()
	waitFor := func(w watch.Interface, name string, ok func(*unstructured.Unstructured) bool) {
		for ev := range w.ResultChan() {
			if u, isU := ev.Object.(*unstructured.Unstructured); isU && u.GetName() == name && ok(u) {
				return
			}
		}
		b.Fatal("watch ended")
	}
	name := fmt.Sprintf("%s-%04d", p.prefix, i)
	t.created = time.Now()
	_, err := p.cd.Resource(framework.Databases).Namespace("default").Create(ctx, database("default", name), metav1.CreateOptions{})
	require.NoError(b, err)
	waitFor(p.providerEvents, name, func(*unstructured.Unstructured) bool { return true })
	t.copied = time.Now()

	copyObj, err := p.pd.Resource(framework.Databases).Namespace(p.pns).Get(ctx, name, metav1.GetOptions{})
	require.NoError(b, err)
	copyObj.Object["status"] = map[string]any{"phase": "Ready"}
	t.statusCall = time.Now()
	_, err = p.pd.Resource(framework.Databases).Namespace(p.pns).UpdateStatus(ctx, copyObj, metav1.UpdateOptions{})
	require.NoError(b, err)
	t.statusWritten = time.Now()
	waitFor(p.consumerEvents, name, func(u *unstructured.Unstructured) bool {
		phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
		return phase == "Ready"
	})
	t.back = time.Now()
	return t
}

// startUpstreamKonnector builds upstream kube-bind v0.4.6's konnector from
// test/interop (a module outside go.work, see test/e2e) and runs it on the
// consumer until the benchmark ends. It serves health on :8080 of every
// interface, so only one may run at a time.
func startUpstreamKonnector(b *testing.B, cons *framework.Cluster) *framework.Process {
	b.Helper()
	dir := b.TempDir()
	cmd := exec.Command("go", "-C", filepath.Join(framework.RepoRoot(), "test", "interop"), "build", "-o", dir+"/", "github.com/kube-bind/kube-bind/cmd/konnector")
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.CombinedOutput()
	require.NoError(b, err, "building upstream's konnector in test/interop:\n%s", out)
	p := &framework.Process{Name: "upstream-konnector", Path: filepath.Join(dir, "konnector"), Log: cons.LogWriter("upstream-konnector"), Args: []string{"--kubeconfig", cons.Kubeconfig}}
	require.NoError(b, p.Start())
	b.Cleanup(p.Stop)
	return p
}

// BenchmarkSync1000InPod is BenchmarkSync1000's synced run with the
// konnector as users run it: the konnector chart's Deployment, installed
// by Helm, on a real node of the consumer cluster. Its memory and CPU are
// what the kernel accounts to the pod's cgroup while 1,000 objects created
// one after another in the consumer reach the provider.
func BenchmarkSync1000InPod(b *testing.B) {
	const n = 1000
	cs := framework.StartClustersWith(b, []framework.Option{framework.WithPods()}, "provider", "consumer")
	prov, cons := cs[0], cs[1]
	node := framework.StartNode(b, cons)
	node.ImportImage(b, framework.Images(b)["konnector"].Path)
	framework.ProviderSide(b, prov)
	framework.ConsumerSide(b, cons, prov)
	podReachable(b, cons, prov)
	cons.Helm(b, "install", "konnector", filepath.Join(framework.RepoRoot(), "charts", "konnector"),
		"--namespace", "kube-bind", "--wait", "--timeout", "2m",
		"--set", "bindings[0].name="+framework.BindingName, "--set", "bindings[0].group="+framework.Databases.Group,
		"--set", "bindings[0].resource="+framework.Databases.Resource)
	cc := cons.Client
	require.NoError(b, cc.Create(b.Context(), framework.Binding()))
	waitBinding(b, cc, func(bd *kubebindv1alpha1.APIServiceBinding) (bool, string) {
		return conditions.IsTrue(bd, "Ready"), "not Ready"
	})
	pods, err := cons.Kube.CoreV1().Pods("kube-bind").List(b.Context(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=konnector"})
	require.NoError(b, err)
	require.Len(b, pods.Items, 1)
	cg, err := node.PodCgroup(pods.Items[0].UID)
	require.NoError(b, err)

	ctx := b.Context()
	cd, pd := fastClient(b, cons), fastClient(b, prov)
	pns := framework.ClusterNS + "-default"
	for round := 0; b.Loop(); round++ {
		added, deleted, stop := countOn(b, pd, pns)
		// The working set is sampled while the objects sync: the kernel
		// keeps only the peak of usage, page cache included.
		var peakWorkingSet atomic.Int64
		sampling, stopSampling := context.WithCancel(ctx)
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			for sampling.Err() == nil {
				if ws, err := cg.WorkingSet(); err == nil && ws > peakWorkingSet.Load() {
					peakWorkingSet.Store(ws)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
		cpu0, err := cg.CPU()
		require.NoError(b, err)
		start := time.Now()
		for i := range n {
			_, err := cd.Resource(framework.Databases).Namespace("default").Create(ctx, database("default", fmt.Sprintf("s%d-%04d", round, i)), metav1.CreateOptions{})
			require.NoError(b, err)
		}
		waitCount(b, added, n)
		elapsed := time.Since(start)
		cpu1, err := cg.CPU()
		require.NoError(b, err)
		stopSampling()
		<-sampled

		for i := range n {
			require.NoError(b, cd.Resource(framework.Databases).Namespace("default").Delete(ctx, fmt.Sprintf("s%d-%04d", round, i), metav1.DeleteOptions{}))
		}
		waitCount(b, deleted, n)
		stop()

		b.ReportMetric(float64(n)/elapsed.Seconds(), "synced/s")
		b.ReportMetric((cpu1-cpu0).Seconds()/elapsed.Seconds(), "pod-cores")
		b.ReportMetric(float64((cpu1-cpu0).Microseconds())/1000/n, "pod-cpu-ms/object")
		b.ReportMetric(float64(peakWorkingSet.Load())/(1<<20), "pod-working-set-MiB")
	}
	peak, err := cg.MemoryPeak()
	require.NoError(b, err)
	b.ReportMetric(float64(peak)/(1<<20), "pod-peak-MiB")
	b.ReportMetric(0, "ns/op")
}

// podReachable points the consumer's provider kubeconfig at the address
// pods reach the provider at, instead of the loopback one.
func podReachable(b *testing.B, cons, prov *framework.Cluster) {
	b.Helper()
	secrets := cons.Kube.CoreV1().Secrets("kube-bind")
	s, err := secrets.Get(b.Context(), "provider-kubeconfig", metav1.GetOptions{})
	require.NoError(b, err)
	cfg, err := clientcmd.Load(s.Data["kubeconfig"])
	require.NoError(b, err)
	for _, c := range cfg.Clusters {
		c.Server = prov.PodReachableURL()
	}
	s.Data["kubeconfig"], err = clientcmd.Write(*cfg)
	require.NoError(b, err)
	_, err = secrets.Update(b.Context(), s, metav1.UpdateOptions{})
	require.NoError(b, err)
}
