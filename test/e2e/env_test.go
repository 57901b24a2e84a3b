package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/bindery-dev/bindery/test/framework"
)

var (
	databases = schema.GroupVersionResource{Group: "db.example.com", Version: "v1", Resource: "databases"}
	templates = schema.GroupVersionResource{Group: "bindery.dev", Version: "v1alpha1", Resource: "apiserviceexporttemplates"}
	bindings  = schema.GroupVersionResource{Group: "kube-bind.io", Version: "v1alpha1", Resource: "apiservicebindings"}
	exports   = schema.GroupVersionResource{Group: "kube-bind.io", Version: "v1alpha1", Resource: "apiserviceexports"}
	asns      = schema.GroupVersionResource{Group: "kube-bind.io", Version: "v1alpha1", Resource: "apiservicenamespaces"}
)

// provider is a control plane as a platform operator runs it: a cluster,
// bindery-backend logging users in at an OpenID provider, and the example
// operator reconciling databases.
type provider struct {
	cluster *framework.Cluster
	dyn     dynamic.Interface
	// url is where kubectl bind reaches the backend.
	url string
}

// startProvider starts the provider cluster, the OpenID provider (whose
// users are any name with any password) and bindery-backend as a process.
func startProvider(t *testing.T, c *framework.Cluster) *provider {
	t.Helper()
	ctx := t.Context()
	p := &provider{cluster: c, url: "http://localhost:" + strconv.Itoa(framework.FreePort(t))}
	var err error
	p.dyn, err = dynamic.NewForConfig(c.Config)
	require.NoError(t, err)
	idp := framework.StartOIDCProvider(t, framework.OIDCOptions{RedirectURIs: []string{p.url + "/callback"}})
	_, err = c.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bindery-system"}}, metav1.CreateOptions{})
	require.NoError(t, err)

	u, _ := url.Parse(p.url)
	health := "127.0.0.1:" + strconv.Itoa(framework.FreePort(t))
	start(t, &framework.Process{Name: "bindery-backend", Path: bins["bindery-backend"], Log: c.LogWriter("bindery-backend"),
		Args: []string{"--kubeconfig", c.Kubeconfig, "--leader-elect=false", "--metrics-bind-address=0",
			"--health-probe-bind-address", health, "--listen-address", "127.0.0.1:" + u.Port(),
			"--external-url", p.url, "--provider-pretty-name", "Example Databases", "--namespace", "bindery-system",
			"--oidc-issuer", idp.IssuerURL, "--oidc-client-id", idp.ClientID, "--oidc-client-secret", idp.ClientSecret,
			"--heartbeat-interval", "10s"}})
	framework.Eventually(t, func() (bool, string) {
		resp, err := http.Get(p.url + "/export")
		if err != nil {
			return false, err.Error()
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	}, time.Minute)
	start(t, &framework.Process{Name: "example-operator", Path: bins["example-operator"], Log: c.LogWriter("example-operator"),
		Args: []string{"--kubeconfig", c.Kubeconfig, "--install-crd", "--delay", "2s"}})
	return p
}

// consumer is an app team's cluster with the konnector, which runs as a
// process since nothing here runs the Deployment kubectl bind applies.
type consumer struct {
	cluster *framework.Cluster
	dyn     dynamic.Interface
	client  client.Client
}

func startConsumer(t *testing.T, c *framework.Cluster) *consumer {
	t.Helper()
	k := &consumer{cluster: c}
	var err error
	k.dyn, err = dynamic.NewForConfig(c.Config)
	require.NoError(t, err)
	k.client = c.Client
	start(t, &framework.Process{Name: "konnector", Path: bins["konnector"], Log: c.LogWriter("konnector"),
		Args: []string{"--kubeconfig", c.Kubeconfig, "--leader-elect=false", "--metrics-bind-address=0", "--health-probe-bind-address=0", "--heartbeat-interval=5s"}})
	framework.Eventually(t, func() (bool, string) {
		err := k.client.Get(t.Context(), client.ObjectKey{Name: "apiservicebindings.kube-bind.io"}, &apiextensionsv1.CustomResourceDefinition{})
		return err == nil, fmt.Sprint(err) // the konnector installs it
	}, time.Minute)
	return k
}

// start starts a process until the test ends.
func start(t *testing.T, p *framework.Process) {
	t.Helper()
	require.NoError(t, p.Start())
	t.Cleanup(p.Stop)
}

// kubectlBind runs the kubectl-bind binary against the consumer and
// returns the process and its output so far.
func (k *consumer) kubectlBind(t *testing.T, args ...string) (*framework.Process, *output) {
	t.Helper()
	out := &output{log: k.cluster.LogWriter("kubectl-bind")}
	p := &framework.Process{Name: "kubectl-bind", Path: bins["kubectl-bind"], Log: out,
		Args: append(args, "--kubeconfig", k.cluster.Kubeconfig)}
	start(t, p)
	return p, out
}

// run runs kubectl-bind to the end and fails the test when it fails.
func (k *consumer) run(t *testing.T, args ...string) string {
	t.Helper()
	p, out := k.kubectlBind(t, args...)
	err := p.Wait(3 * time.Minute)
	require.NoError(t, err, "kubectl-bind %v:\n%s", args, out)
	return out.String()
}

var authorizeURL = regexp.MustCompile(`http://localhost:\d+/authorize\?\S+`)

// bind runs kubectl bind against the provider as a user would: the CLI
// prints the login link, the user logs in in the browser and picks the
// template, and the CLI completes.
func (k *consumer) bind(t *testing.T, p *provider, user, template string) string {
	t.Helper()
	proc, out := k.kubectlBind(t, p.url, "--no-browser", "--login-timeout=2m", "--timeout=2m")
	var link string
	framework.Eventually(t, func() (bool, string) {
		link = authorizeURL.FindString(out.String())
		if done, err := proc.Exited(); done {
			t.Fatalf("kubectl-bind ended before the login: %v\n%s", err, out)
		}
		return link != "", "kubectl-bind prints the login link:\n" + out.String()
	}, time.Minute)
	browser := framework.Browser(t)
	framework.LoginInBrowser(t, browser, link, user)
	ctx, cancel := context.WithTimeout(browser, time.Minute)
	defer cancel()
	framework.BrowserStep(t, ctx, "choose "+template, chromedp.Click(chromedp.CSS("#bind-"+template)),
		chromedp.WaitVisible(chromedp.CSS("body")))
	require.NoError(t, proc.Wait(3*time.Minute), "kubectl-bind:\n%s", out)
	return out.String()
}

// output is a process's output, kept in memory and in the cluster's logs.
type output struct {
	log io.Writer
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, _ = o.log.Write(p)
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// applyFile creates the objects of a YAML file of the repository.
func applyFile(t *testing.T, d dynamic.Interface, gvr schema.GroupVersionResource, path string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(framework.RepoRoot(), path))
	require.NoError(t, err)
	obj := &unstructured.Unstructured{}
	require.NoError(t, yaml.Unmarshal(raw, &obj.Object))
	_, err = d.Resource(gvr).Create(t.Context(), obj, metav1.CreateOptions{})
	require.NoError(t, err)
}

// providerKubeconfig returns the provider kubeconfig kubectl bind stored
// for the binding.
func (k *consumer) providerKubeconfig(t *testing.T) []byte {
	t.Helper()
	b, err := k.dyn.Resource(bindings).Get(t.Context(), binding, metav1.GetOptions{})
	require.NoError(t, err)
	ref, _, _ := unstructured.NestedStringMap(b.Object, "spec", "kubeconfigSecretRef")
	s, err := k.cluster.Kube.CoreV1().Secrets(ref["namespace"]).Get(t.Context(), ref["name"], metav1.GetOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, s.Data[ref["key"]], "the kubeconfig Secret")
	return s.Data[ref["key"]]
}

// providerClient is a client with the credentials the provider issued to
// this consumer.
func (k *consumer) providerClient(t *testing.T) dynamic.Interface {
	t.Helper()
	cfg, err := clientcmd.RESTConfigFromKubeConfig(k.providerKubeconfig(t))
	require.NoError(t, err)
	d, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	return d
}

// clusterNamespace is the consumer's namespace on the provider, where its
// exports, requests and ClusterBinding live.
func (k *consumer) clusterNamespace(t *testing.T) string {
	t.Helper()
	cfg, err := clientcmd.Load(k.providerKubeconfig(t))
	require.NoError(t, err)
	ctx := cfg.Contexts[cfg.CurrentContext]
	require.NotNil(t, ctx, "the kubeconfig's current context")
	require.NotEmpty(t, ctx.Namespace, "the kubeconfig names the cluster namespace")
	return ctx.Namespace
}

// providerNamespace is the provider namespace holding the copies of the
// consumer's objects in namespace default.
func (k *consumer) providerNamespace(t *testing.T, p *provider) string {
	t.Helper()
	cns := k.clusterNamespace(t)
	var pns string
	framework.Eventually(t, func() (bool, string) {
		asn, err := p.dyn.Resource(asns).Namespace(cns).Get(t.Context(), "default", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		pns, _, _ = unstructured.NestedString(asn.Object, "status", "namespace")
		return pns != "", "APIServiceNamespace default has no namespace yet"
	}, time.Minute)
	return pns
}
