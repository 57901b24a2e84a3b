package e2e

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindery-dev/bindery/test/framework"
	"github.com/bindery-dev/bindery/test/stack"
)

var (
	databases       = stack.Databases
	bindings        = stack.Bindings
	exports         = schema.GroupVersionResource{Group: "kube-bind.io", Version: "v1alpha1", Resource: "apiserviceexports"}
	asns            = schema.GroupVersionResource{Group: "kube-bind.io", Version: "v1alpha1", Resource: "apiservicenamespaces"}
	clusterBindings = schema.GroupVersionResource{Group: "kube-bind.io", Version: "v1alpha1", Resource: "clusterbindings"}
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

// startProvider starts the OpenID provider (whose users are any name with
// any password), bindery-backend (with more flags, if any) and the example
// operator.
func startProvider(t *testing.T, c *framework.Cluster, backendArgs ...string) *provider {
	t.Helper()
	p := &provider{cluster: c}
	var err error
	p.dyn, err = dynamic.NewForConfig(c.Config)
	require.NoError(t, err)
	o := stack.BackendOptions{Args: backendArgs}
	idp := framework.StartOIDCProvider(t, framework.OIDCOptions{RedirectURIs: []string{o.BackendURL(t) + "/callback"}})
	o.Issuer, o.ClientID, o.ClientSecret = idp.IssuerURL, idp.ClientID, idp.ClientSecret
	p.url = stack.StartBackend(t, c, bins, o)
	stack.StartOperator(t, c, bins)
	return p
}

// offerCarts installs a CRD of carts.shop.example.com on the provider and
// offers it with the template "carts", whose spec has more fields, if
// any.
func (p *provider) offerCarts(t *testing.T, spec map[string]any) {
	t.Helper()
	ctx := t.Context()
	require.NoError(t, p.cluster.Client.Create(ctx, framework.SimpleCRD("shop.example.com", "carts", "Cart", apiextensionsv1.NamespaceScoped)))
	full := map[string]any{"displayName": "Carts", "resources": []any{map[string]any{"group": "shop.example.com", "resource": "carts"}}}
	maps.Copy(full, spec)
	templates := schema.GroupVersionResource{Group: "bindery.dev", Version: "v1alpha1", Resource: "apiserviceexporttemplates"}
	_, err := p.dyn.Resource(templates).Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "bindery.dev/v1alpha1", "kind": "APIServiceExportTemplate",
		"metadata": map[string]any{"name": "carts"},
		"spec":     full,
	}}, metav1.CreateOptions{})
	require.NoError(t, err)
}

// consumer is an app team's cluster with the konnector.
type consumer struct {
	cluster   *framework.Cluster
	dyn       dynamic.Interface
	client    client.Client
	konnector *framework.Process // nil without one
}

// startConsumer returns the consumer of cluster c with Bindery's
// konnector running.
func startConsumer(t *testing.T, c *framework.Cluster) *consumer {
	t.Helper()
	k := newConsumer(t, c)
	k.konnector = stack.StartKonnector(t, c, bins)
	return k
}

// restartKonnector stops the konnector, as a rollout would, and starts it
// again.
func (k *consumer) restartKonnector(t *testing.T) {
	t.Helper()
	k.konnector.Stop()
	require.NoError(t, k.konnector.Start())
}

// newConsumer returns the consumer of cluster c, without a konnector.
func newConsumer(t *testing.T, c *framework.Cluster) *consumer {
	t.Helper()
	k := &consumer{cluster: c, client: c.Client}
	var err error
	k.dyn, err = dynamic.NewForConfig(c.Config)
	require.NoError(t, err)
	return k
}

// run runs kubectl-bind to the end and fails the test when it fails.
func (k *consumer) run(t *testing.T, args ...string) string {
	t.Helper()
	p, out := stack.KubectlBind(t, k.cluster, bins, nil, args...)
	require.NoError(t, p.Wait(3*time.Minute), "kubectl-bind %v:\n%s", args, out)
	return out.String()
}

// bind runs kubectl bind against the provider as a user would: the CLI
// prints the login link, the user logs in in the browser and picks the
// template, and the CLI completes.
func (k *consumer) bind(t *testing.T, p *provider, user, template string, args ...string) string {
	t.Helper()
	proc, out := stack.KubectlBind(t, k.cluster, bins, nil, append([]string{p.url, "--no-browser", "--login-timeout=2m", "--timeout=2m"}, args...)...)
	loginAndChoose(t, stack.LoginLink(t, proc, out), user, "#bind-"+template)
	require.NoError(t, proc.Wait(3*time.Minute), "kubectl-bind:\n%s", out)
	return out.String()
}

// loginAndChoose opens the login link a kubectl bind printed in a fresh
// browser, logs in at the OpenID provider as user, and clicks the element
// choice (a CSS selector) on the backend's selection page.
func loginAndChoose(t *testing.T, link, user, choice string) {
	t.Helper()
	browser := framework.Browser(t)
	framework.LoginInBrowser(t, browser, link, user)
	ctx, cancel := context.WithTimeout(browser, time.Minute)
	defer cancel()
	framework.Click(t, ctx, "choose "+choice, choice)
}

// kubeconfigSecret returns the Secret kubectl bind stored the provider
// kubeconfig in for the binding (under the key "kubeconfig").
func (k *consumer) kubeconfigSecret(t *testing.T) *corev1.Secret {
	t.Helper()
	return k.kubeconfigSecretOf(t, binding)
}

// kubeconfigSecretOf returns the Secret kubectl bind stored the provider
// kubeconfig of binding name in.
func (k *consumer) kubeconfigSecretOf(t *testing.T, name string) *corev1.Secret {
	t.Helper()
	b, err := k.dyn.Resource(bindings).Get(t.Context(), name, metav1.GetOptions{})
	require.NoError(t, err)
	ref, _, _ := unstructured.NestedStringMap(b.Object, "spec", "kubeconfigSecretRef")
	require.Equal(t, "kubeconfig", ref["key"])
	s, err := k.cluster.Kube.CoreV1().Secrets(ref["namespace"]).Get(t.Context(), ref["name"], metav1.GetOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, s.Data["kubeconfig"], "the kubeconfig Secret")
	return s
}

// providerKubeconfig returns the provider kubeconfig kubectl bind stored
// for the binding.
func (k *consumer) providerKubeconfig(t *testing.T) []byte {
	t.Helper()
	return k.kubeconfigSecret(t).Data["kubeconfig"]
}

// waitCondition waits until the binding's condition typ has status and
// returns its message.
func (k *consumer) waitCondition(t *testing.T, typ, status string) string {
	t.Helper()
	var msg string
	framework.Eventually(t, func() (bool, string) {
		b, err := k.dyn.Resource(bindings).Get(t.Context(), binding, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		c := stack.Condition(b, typ)
		msg = fmt.Sprint(c["message"])
		return c["status"] == status, fmt.Sprintf("%s: %v", typ, c)
	}, 2*time.Minute)
	return msg
}

// providerClient is a client with the credentials the provider issued to
// this consumer.
func (k *consumer) providerClient(t *testing.T) dynamic.Interface {
	t.Helper()
	return k.providerClientOf(t, binding)
}

// providerClientOf is a client with the provider credentials of binding
// name.
func (k *consumer) providerClientOf(t *testing.T, name string) dynamic.Interface {
	t.Helper()
	cfg, err := clientcmd.RESTConfigFromKubeConfig(k.kubeconfigSecretOf(t, name).Data["kubeconfig"])
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
	}, framework.WaitTimeout)
	return pns
}
