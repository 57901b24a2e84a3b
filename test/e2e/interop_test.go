package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/bindery-dev/bindery/test/framework"
	"github.com/bindery-dev/bindery/test/stack"
)

// Upstream kube-bind v0.4.6's programs come from test/interop, a module of
// their own (outside go.work), built once for the whole suite.
var (
	upstreamOnce sync.Once
	upstream     map[string]string
	upstreamErr  error
	// upstreamKonnectorPort is held while an upstream konnector runs: it
	// serves its health endpoint on :8080 of every interface, and panics
	// when the port is taken.
	upstreamKonnectorPort sync.Mutex
)

func upstreamPrograms(t *testing.T) map[string]string {
	t.Helper()
	upstreamOnce.Do(func() {
		dir := filepath.Join(filepath.Dir(bins["konnector"]), "upstream")
		cmd := exec.Command("go", "-C", filepath.Join(framework.RepoRoot(), "test", "interop"), "build", "-o", dir+"/",
			"github.com/kube-bind/kube-bind/cmd/konnector", "github.com/kube-bind/kube-bind/cmd/kubectl-bind", "github.com/kube-bind/kube-bind/cmd/example-backend")
		cmd.Env = append(os.Environ(), "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			upstreamErr = fmt.Errorf("building upstream kube-bind v0.4.6 in test/interop: %v\n%s", err, out)
			return
		}
		upstream = map[string]string{}
		for _, name := range []string{"konnector", "kubectl-bind", "example-backend"} {
			upstream[name] = filepath.Join(dir, name)
		}
	})
	require.NoError(t, upstreamErr)
	return upstream
}

// startUpstreamKonnector runs upstream's konnector on the consumer until
// the test ends.
func startUpstreamKonnector(t *testing.T, k *consumer) {
	t.Helper()
	ups := upstreamPrograms(t)
	upstreamKonnectorPort.Lock()
	p := &framework.Process{Name: "upstream-konnector", Path: ups["konnector"], Log: k.cluster.LogWriter("upstream-konnector"),
		Args: []string{"--kubeconfig", k.cluster.Kubeconfig}}
	require.NoError(t, p.Start())
	t.Cleanup(func() {
		p.Stop()
		upstreamKonnectorPort.Unlock()
	})
}

// upstreamBind runs upstream's kubectl bind against a provider: it prints
// the login link, the user logs in and picks the template in the browser.
func upstreamBind(t *testing.T, k *consumer, url, user, template string) {
	t.Helper()
	ups := upstreamPrograms(t)
	out := stack.Tee(k.cluster.LogWriter("upstream-kubectl-bind"))
	p := &framework.Process{Name: "upstream-kubectl-bind", Path: ups["kubectl-bind"], Log: out,
		Args: []string{url, "--kubeconfig", k.cluster.Kubeconfig, "--skip-konnector"}}
	require.NoError(t, p.Start())
	t.Cleanup(p.Stop)
	link := stack.LoginLink(t, p, out)
	browser := framework.Browser(t)
	framework.LoginInBrowser(t, browser, link, user)
	ctx, cancel := context.WithTimeout(browser, time.Minute)
	defer cancel()
	framework.BrowserStep(t, ctx, "choose "+template, chromedp.Click(chromedp.CSS("#bind-"+template)))
	require.NoError(t, p.Wait(3*time.Minute), "upstream kubectl-bind:\n%s", out)
}

// syncTen creates ten databases in the consumer, sees each reach the
// provider (spec down) and the operator's Ready come back (status up),
// then deletes them and sees the provider copies go.
func syncTen(t *testing.T, p *provider, k *consumer) {
	t.Helper()
	ctx := t.Context()
	for i := range 10 {
		k.createDatabase(t, fmt.Sprintf("db-%d", i), "small")
	}
	pns := k.providerNamespace(t, p)
	for i := range 10 {
		name := fmt.Sprintf("db-%d", i)
		framework.Eventually(t, func() (bool, string) {
			cp, err := p.dyn.Resource(databases).Namespace(pns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			size, _, _ := unstructured.NestedString(cp.Object, "spec", "size")
			return size == "small", "provider copy size " + size
		}, 2*time.Minute)
		k.waitReady(t, name)
	}
	for i := range 10 {
		err := k.dyn.Resource(databases).Namespace("default").Delete(ctx, fmt.Sprintf("db-%d", i), metav1.DeleteOptions{})
		require.NoError(t, err)
	}
	framework.Eventually(t, func() (bool, string) {
		list, err := p.dyn.Resource(databases).Namespace(pns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		return len(list.Items) == 0, fmt.Sprintf("%d provider copies left", len(list.Items))
	}, 2*time.Minute)
	framework.Eventually(t, func() (bool, string) {
		list, err := k.dyn.Resource(databases).Namespace("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		return len(list.Items) == 0, fmt.Sprintf("%d consumer objects left", len(list.Items))
	}, 2*time.Minute)
}

// TestInterop pairs Bindery with upstream kube-bind v0.4.6: for each pair
// it binds, syncs ten objects both ways, and deletes them.
func TestInterop(t *testing.T) {
	t.Parallel()
	t.Run("a: upstream kubectl-bind and konnector against bindery-backend", func(t *testing.T) {
		t.Parallel()
		cs := framework.StartClusters(t, "provider", "upstream-consumer")
		p := startProvider(t, cs[0])
		stack.ApplyTemplate(t, p.dyn, "examples/database/template.yaml")
		k := newConsumer(t, cs[1])
		startUpstreamKonnector(t, k)
		upstreamBind(t, k, p.url+"/export", "carol", "postgres")
		syncTen(t, p, k)
	})
	t.Run("c: upstream kubectl-bind with Bindery's konnector against bindery-backend", func(t *testing.T) {
		t.Parallel()
		cs := framework.StartClusters(t, "provider", "mixed-consumer")
		p := startProvider(t, cs[0])
		stack.ApplyTemplate(t, p.dyn, "examples/database/template.yaml")
		k := startConsumer(t, cs[1])
		upstreamBind(t, k, p.url+"/export", "dave", "postgres")
		syncTen(t, p, k)
	})
}

var (
	_ = corev1.SchemeGroupVersion
	_ = apierrors.IsNotFound
)
