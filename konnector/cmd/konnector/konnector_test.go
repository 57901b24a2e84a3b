package main_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/util/conditions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindery-dev/bindery/konnector/internal/objectsync"
	"github.com/bindery-dev/bindery/test/framework"
)

// konnectorBin is the konnector built for these tests.
var konnectorBin string

func TestMain(m *testing.M) { framework.MainWithKonnector(m, &konnectorBin) }

// startKonnector runs the konnector binary against the consumer cluster,
// as its Deployment would, and stops it when the test ends.
func startKonnector(t testing.TB, cons *framework.Cluster, extra ...string) *framework.Process {
	t.Helper()
	p := &framework.Process{
		Name: "konnector",
		Path: konnectorBin,
		Args: append([]string{
			"--kubeconfig", cons.Kubeconfig,
			"--leader-elect=false",
			"--metrics-bind-address=0", "--health-probe-bind-address=0",
			"--heartbeat-interval=4s",
		}, extra...),
		Log: cons.LogWriter("konnector"),
	}
	require.NoError(t, p.Start())
	t.Cleanup(p.Stop)
	return p
}

// fastClient is a dynamic client without client-side throttling, to load
// the clusters.
func fastClient(t testing.TB, c *framework.Cluster) dynamic.Interface {
	t.Helper()
	cfg := rest.CopyConfig(c.Config)
	cfg.QPS, cfg.Burst = 2000, 4000
	d, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	return d
}

func database(ns, name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "db.example.com/v1", "kind": "Database",
		"metadata": map[string]any{"namespace": ns, "name": name},
		"spec":     map[string]any{"size": name},
	}}
}

// parallel runs f for 0..n-1 on workers goroutines.
func parallel(t testing.TB, n, workers int, f func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// providerOperator stands in for a provider-side controller (a Crossplane
// composition): it marks every copy Ready, echoing its spec in status.
func providerOperator(ctx context.Context, d dynamic.Interface, ns string) {
	rc := d.Resource(framework.Databases).Namespace(ns)
	for ctx.Err() == nil {
		list, err := rc.List(ctx, metav1.ListOptions{})
		if err == nil {
			for _, o := range list.Items {
				size, _, _ := unstructured.NestedString(o.Object, "spec", "size")
				if got, _, _ := unstructured.NestedString(o.Object, "status", "size"); got == size || o.GetDeletionTimestamp() != nil {
					continue
				}
				o.Object["status"] = map[string]any{"phase": "Ready", "size": size}
				_, _ = rc.UpdateStatus(ctx, &o, metav1.UpdateOptions{})
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// converged checks that the provider holds exactly one up-to-date copy of
// every consumer object and nothing else, and that every status came back.
func converged(ctx context.Context, cons, prov dynamic.Interface, namespaces []string, want int) (bool, string) {
	total := 0
	for _, ns := range namespaces {
		pns := framework.ClusterNS + "-" + ns
		cl, err := cons.Resource(framework.Databases).Namespace(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		pl, err := prov.Resource(framework.Databases).Namespace(pns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		copies := map[string]unstructured.Unstructured{}
		for _, p := range pl.Items {
			copies[p.GetName()] = p
		}
		if len(pl.Items) != len(cl.Items) {
			return false, fmt.Sprintf("%s: %d consumer objects, %d provider copies", ns, len(cl.Items), len(pl.Items))
		}
		for _, c := range cl.Items {
			p, ok := copies[c.GetName()]
			if !ok {
				return false, fmt.Sprintf("%s/%s has no provider copy", ns, c.GetName())
			}
			if !strings.HasSuffix(p.GetAnnotations()[objectsync.OriginAnnotation], "/"+string(c.GetUID())) {
				return false, fmt.Sprintf("%s/%s: the provider copy belongs to another object", ns, c.GetName())
			}
			want, _, _ := unstructured.NestedString(c.Object, "spec", "size")
			if got, _, _ := unstructured.NestedString(p.Object, "spec", "size"); got != want {
				return false, fmt.Sprintf("%s/%s: provider spec.size %q, want %q", ns, c.GetName(), got, want)
			}
			if got, _, _ := unstructured.NestedString(c.Object, "status", "size"); got != want {
				return false, fmt.Sprintf("%s/%s: status not synced yet", ns, c.GetName())
			}
			if c.GetAnnotations()[objectsync.SyncedGenerationAnnotation] != fmt.Sprint(c.GetGeneration()) {
				return false, fmt.Sprintf("%s/%s: synced generation not recorded", ns, c.GetName())
			}
		}
		total += len(cl.Items)
	}
	return total == want, fmt.Sprintf("%d objects, want %d", total, want)
}

// setup starts two clusters, the provider side and a binding, and a
// konnector process with extra flags; it returns when the binding is
// Ready.
func setup(t testing.TB, namespaces []string, extra ...string) (cons, prov *framework.Cluster, consumerClient client.Client, p *framework.Process) {
	t.Helper()
	return setupWith(t, namespaces, func(cons *framework.Cluster) *framework.Process { return startKonnector(t, cons, extra...) })
}

// setupWith is setup with a konnector that start starts.
func setupWith(t testing.TB, namespaces []string, start func(cons *framework.Cluster) *framework.Process) (cons, prov *framework.Cluster, consumerClient client.Client, p *framework.Process) {
	t.Helper()
	cs := framework.StartClusters(t, "provider", "consumer")
	prov, cons = cs[0], cs[1]
	framework.ProviderSide(t, prov)
	framework.ConsumerSide(t, cons, prov)
	consumerClient = cons.Client
	for _, ns := range namespaces {
		if ns != "default" {
			require.NoError(t, consumerClient.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
		}
	}
	p = start(cons)
	require.NoError(t, consumerClient.Create(t.Context(), framework.Binding()))
	waitBinding(t, consumerClient, func(b *kubebindv1alpha1.APIServiceBinding) (bool, string) {
		return conditions.IsTrue(b, "Ready"), "not Ready"
	})
	return cons, prov, consumerClient, p
}

// TestMetricsNeedAuthorization checks that the konnector's metrics endpoint
// answers only callers the cluster allows to get /metrics.
func TestMetricsNeedAuthorization(t *testing.T) {
	t.Parallel()
	cons := framework.StartCluster(t, "consumer")
	port := framework.FreePort(t)
	startKonnector(t, cons, fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", port))
	framework.CheckMetricsAuthorized(t, cons, fmt.Sprintf("https://127.0.0.1:%d/metrics", port))
}

func waitBinding(t testing.TB, c client.Client, cond func(*kubebindv1alpha1.APIServiceBinding) (bool, string)) {
	t.Helper()
	framework.Eventually(t, func() (bool, string) {
		b := &kubebindv1alpha1.APIServiceBinding{}
		if err := c.Get(t.Context(), client.ObjectKey{Name: framework.BindingName}, b); err != nil {
			return false, err.Error()
		}
		ok, why := cond(b)
		return ok, fmt.Sprintf("%s; conditions %+v", why, b.Status.Conditions)
	}, 2*time.Minute)
}

// TestThousandObjectsSurviveKills creates 1,000 objects while the
// konnector is killed with SIGKILL five times, then deletes them all
// through another kill. Nothing is lost, duplicated or left behind.
func TestThousandObjectsSurviveKills(t *testing.T) {
	t.Parallel()
	namespaces := []string{"default", "team-a", "team-b", "team-c"}
	cons, prov, _, p := setup(t, namespaces)
	ctx := t.Context()
	cd, pd := fastClient(t, cons), fastClient(t, prov)
	opCtx, stopOps := context.WithCancel(ctx)
	defer stopOps()
	for _, ns := range namespaces {
		go providerOperator(opCtx, pd, framework.ClusterNS+"-"+ns)
	}

	// Kill at random moments while the objects are created and synced.
	rnd := framework.Rand(t)
	killerDone := make(chan struct{})
	go func() {
		defer close(killerDone)
		for range 5 {
			time.Sleep(time.Duration(500+rnd.IntN(2500)) * time.Millisecond)
			p.Kill()
			if err := p.Start(); err != nil {
				t.Errorf("restarting the konnector: %v", err)
				return
			}
		}
	}()
	const n = 1000
	parallel(t, n, 8, func(i int) error {
		ns := namespaces[i%len(namespaces)]
		_, err := cd.Resource(framework.Databases).Namespace(ns).Create(ctx, database(ns, fmt.Sprintf("db-%04d", i)), metav1.CreateOptions{})
		return err
	})
	<-killerDone
	framework.Eventually(t, func() (bool, string) { return converged(ctx, cd, pd, namespaces, n) }, 3*time.Minute)

	// A restart over synced objects writes none of their copies again: an
	// object created after it is synced after the konnector has gone
	// through those it found.
	copyWrites := func() float64 {
		r := prov.Requests(t)
		return r[framework.RequestKind{Verb: "APPLY", Resource: "databases"}] + r[framework.RequestKind{Verb: "PATCH", Resource: "databases"}]
	}
	before := copyWrites()
	p.Kill()
	require.NoError(t, p.Start())
	_, err := cd.Resource(framework.Databases).Namespace("default").Create(ctx, database("default", "after-restart"), metav1.CreateOptions{})
	require.NoError(t, err)
	framework.Eventually(t, func() (bool, string) { return converged(ctx, cd, pd, namespaces, n+1) }, 3*time.Minute)
	assert.Equal(t, before, copyWrites(), "applies and patches of provider copies after the restart")
	require.NoError(t, cd.Resource(framework.Databases).Namespace("default").Delete(ctx, "after-restart", metav1.DeleteOptions{}))

	// Delete everything, with one more crash in the middle.
	lastKill := time.Duration(200+rnd.IntN(800)) * time.Millisecond
	go func() {
		time.Sleep(lastKill)
		p.Kill()
		if err := p.Start(); err != nil {
			t.Errorf("restarting the konnector: %v", err)
		}
	}()
	parallel(t, n, 8, func(i int) error {
		ns := namespaces[i%len(namespaces)]
		err := cd.Resource(framework.Databases).Namespace(ns).Delete(ctx, fmt.Sprintf("db-%04d", i), metav1.DeleteOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	})
	framework.Eventually(t, func() (bool, string) { return converged(ctx, cd, pd, namespaces, 0) }, 3*time.Minute)
}

// TestProviderOutage stops the provider's API server for 30s while objects
// are being created. The binding says Connected=False meanwhile, and
// everything converges once the provider is back.
func TestProviderOutage(t *testing.T) {
	t.Parallel()
	namespaces := []string{"default"}
	cons, prov, cc, _ := setup(t, namespaces)
	ctx := t.Context()
	cd, pd := fastClient(t, cons), fastClient(t, prov)
	opCtx, stopOps := context.WithCancel(ctx)
	defer stopOps()
	go providerOperator(opCtx, pd, framework.ClusterNS+"-default")

	const n = 200
	create := func(from, to int) {
		for i := from; i < to; i++ {
			_, err := cd.Resource(framework.Databases).Namespace("default").Create(ctx, database("default", fmt.Sprintf("db-%03d", i)), metav1.CreateOptions{})
			require.NoError(t, err)
		}
	}
	create(0, n/2)
	require.NoError(t, prov.StopAPIServer())
	down := time.Now()
	create(n/2, n)
	waitBinding(t, cc, func(b *kubebindv1alpha1.APIServiceBinding) (bool, string) {
		c := conditions.Get(b, kubebindv1alpha1.APIServiceBindingConditionConnected)
		return c != nil && c.Status == corev1.ConditionFalse, "still Connected"
	})
	b := &kubebindv1alpha1.APIServiceBinding{}
	require.NoError(t, cc.Get(ctx, client.ObjectKey{Name: framework.BindingName}, b))
	assert.Contains(t, conditions.GetMessage(b, kubebindv1alpha1.APIServiceBindingConditionConnected), "cannot reach the provider")
	time.Sleep(30*time.Second - time.Since(down))
	require.NoError(t, prov.StartAPIServer())
	up := time.Now()
	t.Logf("the provider was down for %s", up.Sub(down).Round(time.Second))

	framework.Eventually(t, func() (bool, string) { return converged(ctx, cd, pd, namespaces, n) }, 3*time.Minute)
	t.Logf("converged %s after the provider came back", time.Since(up).Round(100*time.Millisecond))
	waitBinding(t, cc, func(b *kubebindv1alpha1.APIServiceBinding) (bool, string) {
		return conditions.IsTrue(b, kubebindv1alpha1.APIServiceBindingConditionConnected), "not Connected again"
	})
}
