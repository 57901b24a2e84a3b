package e2e

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindery-dev/bindery/apis/memorylimit"
	"github.com/bindery-dev/bindery/test/framework"
	"github.com/bindery-dev/bindery/test/images"
	"github.com/bindery-dev/bindery/test/stack"
)

// TestPlatformTeamInstall is the journey as a platform team and an app
// team run Bindery on real clusters: the backend is installed with Helm
// and runs as two replicas on the provider's node under the chart's
// ServiceAccount and ClusterRole, behind a round-robin proxy, so that
// logins cross replicas; a konnector image the node cannot get is reported by
// kubectl bind; kubectl bind then deploys the konnector chart's Deployment
// with its default image (replacing the broken one), which runs as a pod
// on the consumer's node; a Database syncs through both pods and comes
// back with its status and connection Secret; kubectl bind unbind removes
// it.
func TestPlatformTeamInstall(t *testing.T) {
	t.Parallel()
	scenario(t)
	began := time.Now()
	ctx := t.Context()
	cs := framework.StartClustersWith(t, []framework.Option{framework.WithPods()}, "provider", "consumer")
	prov, cons := cs[0], cs[1]
	provNode, consNode := framework.StartNode(t, prov), framework.StartNode(t, cons)
	built := framework.Images(t)
	provNode.ImportImage(t, built["bindery-backend"].Path)
	consNode.ImportImage(t, built["konnector"].Path)

	p := &provider{cluster: prov}
	var err error
	p.dyn, err = dynamic.NewForConfig(prov.Config)
	require.NoError(t, err)
	stack.StartOperator(t, prov, bins) // the provider's own controllers
	// What runs for the whole journey is started with the test's t, not a
	// step's.
	journey := t
	var served []*atomic.Int64 // requests each backend replica served
	backendChart := filepath.Join(framework.RepoRoot(), "charts", "backend")
	var values []string

	t.Run("1: helm installs the backend, which runs on the provider's node", func(t *testing.T) {
		hostIP, err := framework.HostIP()
		require.NoError(t, err)
		localPort := framework.FreePort(t)
		p.url = "http://localhost:" + strconv.Itoa(localPort)
		// The backend in its pod reaches the OpenID provider at this
		// machine's address, and so does the browser.
		idp := framework.StartOIDCProvider(journey, framework.OIDCOptions{Host: hostIP.String(), RedirectURIs: []string{p.url + "/callback"}})
		_, err = prov.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bindery-system"}}, metav1.CreateOptions{})
		require.NoError(t, err)
		_, err = prov.Kube.CoreV1().Secrets("bindery-system").Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "oidc"},
			StringData: map[string]string{"client-secret": idp.ClientSecret},
		}, metav1.CreateOptions{})
		require.NoError(t, err)

		values = []string{
			"--set", "externalURL=" + p.url,
			"--set", "apiServer=" + prov.PodReachableURL(),
			"--set", "providerPrettyName=Example Databases",
			"--set", "heartbeatInterval=10s",
			"--set", "oidc.issuerURL=" + idp.IssuerURL,
			"--set", "oidc.clientID=" + idp.ClientID,
			"--set", "oidc.clientSecret.secretName=oidc",
			"--set", "exportedResources[0].group=db.example.com",
			"--set", "exportedResources[0].resources={databases}",
		}
		prov.Helm(t, append([]string{"install", "bindery-backend", backendChart, "--namespace", "bindery-system", "--wait", "--timeout", "3m", "--set", "replicas=2"}, values...)...)
		pods := runningPods(t, prov, "bindery-system", "app.kubernetes.io/name=bindery-backend", 2)
		var replicas []*url.URL
		for _, pod := range pods {
			assert.Equal(t, provNode.Name, pod.Spec.NodeName)
			assert.Equal(t, built["bindery-backend"].Ref, pod.Spec.Containers[0].Image, "the chart's default image is the one make images builds")
			assert.Equal(t, "bindery-backend", pod.Spec.ServiceAccountName)
			// Reached as through a Service or an Ingress: here, a
			// port-forward to each pod behind a round-robin proxy.
			port := prov.PortForward(journey, "bindery-system", pod.Name, 0, 8080)
			replicas = append(replicas, &url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(port)})
		}
		served = roundRobin(journey, localPort, replicas)
		stack.WaitServing(t, p.url, nil)
		stack.ApplyTemplate(t, p.dyn, "examples/database/template.yaml")
	})
	if t.Failed() {
		return
	}

	t.Run("1b: installing the chart twice is refused and changes nothing", func(t *testing.T) {
		out, err := prov.HelmErr(t, append([]string{"install", "bindery-backend", backendChart, "--namespace", "bindery-system"}, values...)...)
		require.Error(t, err)
		assert.Contains(t, out, "cannot re-use a name that is still in use")
		out, err = prov.HelmErr(t, append([]string{"install", "second", backendChart, "--namespace", "other", "--create-namespace"}, values...)...)
		require.Error(t, err)
		assert.Contains(t, out, `bindery-backend is already installed in this cluster (release "bindery-backend" in namespace bindery-system)`)
		_, err = prov.Kube.AppsV1().Deployments("other").Get(ctx, "second", metav1.GetOptions{})
		assert.True(t, apierrors.IsNotFound(err), "nothing of the second release was created: %v", err)
		resp, err := http.Get(p.url + "/export")
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, "the first backend still serves")
	})

	k := newConsumer(t, cons)
	t.Run("2a: a konnector image the node cannot get is reported by kubectl bind, not timed out", func(t *testing.T) {
		// A registry on loopback that does not answer: nothing leaves
		// the machine.
		missing := "127.0.0.1:1/bindery/konnector:missing"
		proc, out := stack.KubectlBind(t, cons, bins, nil, p.url, "--no-browser", "--login-timeout=2m", "--timeout=3m", "--konnector-image", missing)
		loginAndChoose(t, stack.LoginLink(t, proc, out), "alice", "#bind-postgres")
		start := time.Now()
		err := proc.Wait(3 * time.Minute)
		require.Error(t, err, "kubectl-bind:\n%s", out)
		assert.Less(t, time.Since(start), 2*time.Minute, "reported before --timeout")
		assert.Contains(t, out.String(), "the konnector ("+missing+") cannot start: the image cannot be pulled")
		assert.Regexp(t, `is (ErrImagePull|ImagePullBackOff)`, out.String())
		assert.Contains(t, out.String(), "hint: make the image available to the cluster's nodes")
	})
	t.Run("2: kubectl bind deploys the konnector, which runs on the consumer's node", func(t *testing.T) {
		out := k.bind(t, p, "alice", "postgres")
		assert.Contains(t, out, "Deployed the konnector")
		assert.Contains(t, out, "binding(s) Ready")
		// The logins went through both replicas: keys are shared and any
		// replica finishes what another started.
		for i, n := range served {
			assert.GreaterOrEqual(t, n.Load(), int64(2), "replica %d served the logins too", i)
		}
		lease, err := prov.Kube.CoordinationV1().Leases("bindery-system").List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		require.Len(t, lease.Items, 1, "one leader election lease")
		assert.NotEmpty(t, *lease.Items[0].Spec.HolderIdentity, "one replica leads the controllers")
		pod := runningPod(t, cons, "kube-bind", "app.kubernetes.io/name=konnector")
		assert.Equal(t, consNode.Name, pod.Spec.NodeName)
		assert.Equal(t, built["konnector"].Ref, pod.Spec.Containers[0].Image, "kubectl bind deploys the image make images builds by default")
		assert.Equal(t, "konnector", pod.Spec.ServiceAccountName)
		require.NoError(t, k.client.Get(ctx, client.ObjectKey{Name: binding}, &apiextensionsv1.CustomResourceDefinition{}), "the CRD appears")
	})
	if t.Failed() {
		return
	}

	t.Run("3: a Database syncs through both pods; status and Secret come back", func(t *testing.T) {
		k.createDatabase(t, "orders", "small")
		db := k.waitReady(t, "orders")
		endpoint, _, _ := unstructured.NestedString(db.Object, "status", "endpoint")
		assert.Contains(t, endpoint, ".db.example.com:5432")
		conn := &corev1.Secret{}
		framework.Eventually(t, func() (bool, string) {
			err := k.client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "orders-conn"}, conn)
			return err == nil, fmt.Sprint(err)
		}, framework.WaitTimeout)
		assert.Equal(t, endpoint, string(conn.Data["endpoint"]))
	})
	if t.Failed() {
		return
	}

	t.Run("3b: a konnector pod deleted mid-sync comes back and loses nothing", func(t *testing.T) {
		before := runningPod(t, cons, "kube-bind", "app.kubernetes.io/name=konnector")
		const n = 30
		for i := range n {
			k.createDatabase(t, fmt.Sprintf("burst-%02d", i), "small")
			if i == n/3 {
				require.NoError(t, cons.Kube.CoreV1().Pods("kube-bind").Delete(ctx, before.Name, metav1.DeleteOptions{}))
			}
		}
		framework.Eventually(t, func() (bool, string) {
			pod := runningPod(t, cons, "kube-bind", "app.kubernetes.io/name=konnector")
			return pod.Name != before.Name, "the Deployment replaces the pod"
		}, 2*time.Minute)
		for i := range n {
			k.waitReady(t, fmt.Sprintf("burst-%02d", i))
		}
		pns := k.providerNamespace(t, p)
		list, err := p.dyn.Resource(databases).Namespace(pns).List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		assert.Len(t, list.Items, n+1, "one provider copy per Database, no more")
	})
	if t.Failed() {
		return
	}

	t.Run("3c: the konnector upgrades to a newer image, and is never downgraded", func(t *testing.T) {
		built, err := images.Build(images.Options{Root: framework.RepoRoot(), Out: t.TempDir(), Version: "v0.1.1"}, images.Konnector)
		require.NoError(t, err)
		newer := built[0].Ref
		consNode.ImportImage(t, built[0].Path)
		dir := t.TempDir()
		remote := filepath.Join(dir, "provider.kubeconfig")
		require.NoError(t, os.WriteFile(remote, k.providerKubeconfig(t), 0o600))
		request := filepath.Join(dir, "request.yaml")
		require.NoError(t, os.WriteFile(request, []byte("apiVersion: kube-bind.io/v1alpha1\nkind: APIServiceExportRequest\nmetadata: {name: postgres}\nspec:\n  resources: [{group: db.example.com, resource: databases}]\n"), 0o600))

		out := k.run(t, "apiservice", "--remote-kubeconfig", remote, "-f", request, "--konnector-image", newer)
		assert.Contains(t, out, "Bound")
		framework.Eventually(t, func() (bool, string) {
			pod := runningPod(t, cons, "kube-bind", "app.kubernetes.io/name=konnector")
			return pod.Spec.Containers[0].Image == newer, "running " + pod.Spec.Containers[0].Image
		}, 2*time.Minute)
		cns := k.clusterNamespace(t)
		framework.Eventually(t, func() (bool, string) {
			cb, err := p.dyn.Resource(clusterBindings).Namespace(cns).Get(ctx, "cluster", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			v, _, _ := unstructured.NestedString(cb.Object, "status", "konnectorVersion")
			return v == "v0.1.1", "the provider sees konnector " + v
		}, framework.WaitTimeout)

		proc, o := stack.KubectlBind(t, cons, bins, nil, "apiservice", "--remote-kubeconfig", remote, "-f", request)
		require.Error(t, proc.Wait(time.Minute), "a bind with the older default image is refused:\n%s", o)
		assert.Contains(t, o.String(), "is v0.1.1, newer than this kubectl-bind's v0.1.0-dev")
		d, err := cons.Kube.AppsV1().Deployments("kube-bind").Get(ctx, "konnector", metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, newer, d.Spec.Template.Spec.Containers[0].Image, "the newer konnector stays")
		k.waitReady(t, "orders")
	})
	if t.Failed() {
		return
	}

	t.Run("4: kubectl bind unbind removes the binding, its CRD and the provider's copy", func(t *testing.T) {
		pns := k.providerNamespace(t, p)
		k.run(t, "unbind", binding, "--yes")
		err := k.client.Get(ctx, client.ObjectKey{Name: binding}, &apiextensionsv1.CustomResourceDefinition{})
		assert.True(t, apierrors.IsNotFound(err), "the CRD is gone: %v", err)
		_, err = p.dyn.Resource(databases).Namespace(pns).Get(ctx, "orders", metav1.GetOptions{})
		assert.True(t, apierrors.IsNotFound(err), "the provider's copy is gone: %v", err)
	})
	// The two programs' pods, as their charts label them.
	programs := []struct {
		cluster      *framework.Cluster
		ns, selector string
	}{
		{prov, "bindery-system", "app.kubernetes.io/name=bindery-backend"},
		{cons, "kube-bind", "app.kubernetes.io/name=konnector"},
	}
	t.Run("5: both programs had every permission they used from their charts", func(t *testing.T) {
		for _, c := range programs {
			pods, err := c.cluster.Kube.CoreV1().Pods(c.ns).List(ctx, metav1.ListOptions{LabelSelector: c.selector})
			require.NoError(t, err)
			require.NotEmpty(t, pods.Items)
			for _, pod := range pods.Items {
				raw, err := c.cluster.Kube.CoreV1().Pods(c.ns).GetLogs(pod.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
				require.NoError(t, err)
				assert.NotContains(t, strings.ToLower(string(raw)), "forbidden", "%s logged a refused request:\n%s", pod.Name, raw)
			}
		}
	})
	t.Run("6: the konnector's and the backend's Go memory limits are 90 % of their containers'", func(t *testing.T) {
		for _, c := range programs {
			pod := runningPod(t, c.cluster, c.ns, c.selector)
			limit := pod.Spec.Containers[0].Resources.Limits.Memory()
			require.False(t, limit.IsZero(), "the chart sets %s a memory limit", pod.Name)
			raw, err := c.cluster.Kube.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
			require.NoError(t, err)
			want := fmt.Sprintf(`"msg":"Go memory limit","bytes":%d`, uint64(float64(limit.Value())*memorylimit.Ratio))
			assert.Contains(t, string(raw), want, "%s's log:\n%s", pod.Name, raw)
		}
	})
	t.Logf("platform-team journey: %s wall time, nodes included", time.Since(began).Round(time.Second))
}

// runningPods waits until n pods of a selector are Running and returns
// them.
func runningPods(t *testing.T, c *framework.Cluster, ns, selector string, n int) []corev1.Pod {
	t.Helper()
	return waitRunning(t, c, ns, selector, func(running int) bool { return running == n })
}

// runningPod waits for a Running pod of a selector and returns one.
func runningPod(t *testing.T, c *framework.Cluster, ns, selector string) corev1.Pod {
	t.Helper()
	return waitRunning(t, c, ns, selector, func(running int) bool { return running > 0 })[0]
}

// waitRunning waits until enough says the number of Running pods of a
// selector (not being deleted) is right, and returns them.
func waitRunning(t *testing.T, c *framework.Cluster, ns, selector string, enough func(int) bool) []corev1.Pod {
	t.Helper()
	var running []corev1.Pod
	framework.Eventually(t, func() (bool, string) {
		list, err := c.Kube.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, err.Error()
		}
		running = running[:0]
		var states []string
		for _, p := range list.Items {
			states = append(states, p.Name+" "+string(p.Status.Phase)+" "+podWaitingReason(p))
			if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
				running = append(running, p)
			}
		}
		return enough(len(running)), "pods " + selector + ": " + strings.Join(states, "; ")
	}, 2*time.Minute)
	return running
}

// roundRobin serves on localhost:port, handing requests to the replicas in
// turn as a load balancer does, until the test ends; it returns how many
// requests each replica got.
func roundRobin(t *testing.T, port int, replicas []*url.URL) []*atomic.Int64 {
	t.Helper()
	served := make([]*atomic.Int64, len(replicas))
	for i := range served {
		served[i] = &atomic.Int64{}
	}
	var next atomic.Int64
	front := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		i := int(next.Add(1)) % len(replicas)
		served[i].Add(1)
		r.SetURL(replicas[i])
		r.Out.Host = r.In.Host
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	require.NoError(t, err)
	srv := &http.Server{Handler: front, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { _ = srv.Close() })
	return served
}

func podWaitingReason(p corev1.Pod) string {
	for _, s := range p.Status.ContainerStatuses {
		if s.State.Waiting != nil {
			return s.State.Waiting.Reason + ": " + s.State.Waiting.Message
		}
	}
	return ""
}

// TestKonnectorInstalledWithHelm: an app team that manages the konnector
// with Helm installs its chart, binds with --skip-konnector, and the
// konnector pod syncs; helm uninstall removes it.
func TestKonnectorInstalledWithHelm(t *testing.T) {
	t.Parallel()
	scenario(t)
	ctx := t.Context()
	cs := framework.StartClustersWith(t, []framework.Option{framework.WithPods()}, "provider", "consumer")
	prov, cons := cs[0], cs[1]
	node := framework.StartNode(t, cons)
	node.ImportImage(t, framework.Images(t)["konnector"].Path)
	// The backend runs as a process; the kubeconfigs it issues name the
	// provider's address that pods reach.
	p := startProvider(t, prov, "--external-address", prov.PodReachableURL(), "--external-ca-file", filepath.Join(prov.Dir, "ca.crt"))
	stack.ApplyTemplate(t, p.dyn, "examples/database/template.yaml")

	cons.Helm(t, "install", "konnector", filepath.Join(framework.RepoRoot(), "charts", "konnector"),
		"--namespace", "kube-bind", "--create-namespace", "--wait", "--timeout", "2m",
		"--set", "bindings[0].name="+binding, "--set", "bindings[0].group=db.example.com", "--set", "bindings[0].resource=databases",
		"--set", "claimedResources={secrets}")
	pod := runningPod(t, cons, "kube-bind", "app.kubernetes.io/name=konnector")
	assert.Equal(t, node.Name, pod.Spec.NodeName)

	k := newConsumer(t, cons)
	out := k.bind(t, p, "carol", "postgres", "--skip-konnector")
	assert.NotContains(t, out, "Deployed the konnector")
	k.createDatabase(t, "orders", "small")
	k.waitReady(t, "orders")
	framework.Eventually(t, func() (bool, string) {
		err := k.client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "orders-conn"}, &corev1.Secret{})
		return err == nil, fmt.Sprint(err)
	}, framework.WaitTimeout)

	t.Run("a konnector that cannot reach the provider says so and loses nothing", func(t *testing.T) {
		// What a backend with a wrong --external-address hands out: an
		// address the pod cannot reach.
		s := k.kubeconfigSecret(t)
		good := s.Data["kubeconfig"]
		cfg, err := clientcmd.Load(good)
		require.NoError(t, err)
		u, err := url.Parse(prov.PodReachableURL())
		require.NoError(t, err)
		unreachable := "https://127.0.0.1:" + u.Port()
		for _, c := range cfg.Clusters {
			c.Server = unreachable
		}
		bad, err := clientcmd.Write(*cfg)
		require.NoError(t, err)
		s.Data["kubeconfig"] = bad
		_, err = cons.Kube.CoreV1().Secrets(s.Namespace).Update(ctx, s, metav1.UpdateOptions{})
		require.NoError(t, err)
		msg := k.waitCondition(t, "Connected", "False")
		assert.Contains(t, msg, "cannot reach the provider at "+unreachable)
		assert.Equal(t, "False", k.bindingReady(t), "Ready does not hide it")

		s = k.kubeconfigSecret(t)
		s.Data["kubeconfig"] = good
		_, err = cons.Kube.CoreV1().Secrets(s.Namespace).Update(ctx, s, metav1.UpdateOptions{})
		require.NoError(t, err)
		k.waitCondition(t, "Ready", "True")
		k.waitReady(t, "orders")
		pns := k.providerNamespace(t, p)
		_, err = p.dyn.Resource(databases).Namespace(pns).Get(ctx, "orders", metav1.GetOptions{})
		assert.NoError(t, err, "the provider's copy is still there")
	})

	k.run(t, "unbind", binding, "--yes")
	cons.Helm(t, "uninstall", "konnector", "--namespace", "kube-bind", "--wait")
	_, err := cons.Kube.AppsV1().Deployments("kube-bind").Get(ctx, "konnector", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "helm uninstall removes the konnector: %v", err)
}
