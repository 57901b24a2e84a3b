package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

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
		cmd := interopGo("build", "-o", dir+"/",
			"github.com/kube-bind/kube-bind/cmd/konnector", "github.com/kube-bind/kube-bind/cmd/kubectl-bind", "github.com/kube-bind/kube-bind/cmd/example-backend")
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

// interopGo runs go in test/interop, outside the workspace.
func interopGo(args ...string) *exec.Cmd {
	cmd := exec.Command("go", append([]string{"-C", filepath.Join(framework.RepoRoot(), "test", "interop")}, args...)...)
	cmd.Env = append(os.Environ(), "GOWORK=off")
	return cmd
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
	loginAndChoose(t, stack.LoginLink(t, p, out), user, "#bind-"+template)
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
		scenario(t)
		cs := framework.StartClusters(t, "provider", "upstream-consumer")
		p := startProvider(t, cs[0])
		stack.ApplyTemplate(t, p.dyn, "examples/database/template.yaml")
		k := newConsumer(t, cs[1])
		startUpstreamKonnector(t, k)
		upstreamBind(t, k, p.url+"/export", "carol", "postgres")
		syncTen(t, p, k)
	})
	t.Run("b: Bindery's kubectl-bind and konnector against upstream example-backend", func(t *testing.T) {
		t.Parallel()
		scenario(t)
		cs := framework.StartClusters(t, "upstream-provider", "consumer")
		p := startUpstreamBackend(t, cs[0])
		k := startConsumer(t, cs[1])
		k.bindAtUpstream(t, p, "erin", "databases")
		syncTen(t, p, k)
	})
	t.Run("c: upstream kubectl-bind with Bindery's konnector against bindery-backend", func(t *testing.T) {
		t.Parallel()
		scenario(t)
		cs := framework.StartClusters(t, "provider", "mixed-consumer")
		p := startProvider(t, cs[0])
		stack.ApplyTemplate(t, p.dyn, "examples/database/template.yaml")
		k := startConsumer(t, cs[1])
		upstreamBind(t, k, p.url+"/export", "dave", "postgres")
		syncTen(t, p, k)
	})
}

// startUpstreamBackend runs upstream's example-backend on the provider,
// logging users in at the npm oidc-provider (without PKCE, which upstream
// does not use), with the example operator's databases exported by label.
func startUpstreamBackend(t *testing.T, c *framework.Cluster) *provider {
	t.Helper()
	ctx := t.Context()
	ups := upstreamPrograms(t)
	p := &provider{cluster: c}
	var err error
	p.dyn, err = dynamic.NewForConfig(c.Config)
	require.NoError(t, err)

	// Upstream's backend expects its CRDs in place; they come with its
	// module.
	dir, err := interopGo("list", "-m", "-f", "{{.Dir}}", "github.com/kube-bind/kube-bind").Output()
	require.NoError(t, err, "finding upstream's module")
	for _, r := range []string{"clusterbindings", "apiserviceexports", "apiservicenamespaces", "apiserviceexportrequests"} {
		raw, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(dir)), "deploy", "crd", "kube-bind.io_"+r+".yaml"))
		require.NoError(t, err)
		crd := &apiextensionsv1.CustomResourceDefinition{}
		require.NoError(t, yaml.Unmarshal(raw, crd))
		require.NoError(t, c.Client.Create(ctx, crd))
	}
	stack.StartOperator(t, c, bins)
	// A patch, since the API server is still writing the CRD's status.
	exported := &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: stack.DatabaseBinding}}
	require.NoError(t, c.Client.Patch(ctx, exported, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"kube-bind.io/exported":"true"}}}`))))

	port := strconv.Itoa(framework.FreePort(t))
	p.url = "http://localhost:" + port
	idp := framework.StartOIDCProvider(t, framework.OIDCOptions{RedirectURIs: []string{p.url + "/callback"}, PKCEOptional: true})
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	require.NoError(t, os.WriteFile(caFile, c.Config.CAData, 0o600))
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	b := &framework.Process{Name: "upstream-example-backend", Path: ups["example-backend"], Log: c.LogWriter("upstream-example-backend"),
		Args: []string{"--kubeconfig", c.Kubeconfig, "--listen-address", "127.0.0.1:" + port,
			"--oidc-issuer-url", idp.IssuerURL, "--oidc-issuer-client-id", idp.ClientID, "--oidc-issuer-client-secret", idp.ClientSecret,
			"--oidc-callback-url", p.url + "/callback", "--cookie-signing-key", base64.StdEncoding.EncodeToString(key),
			"--pretty-name", "Upstream Example", "--consumer-scope", "namespaced",
			"--external-address", c.Config.Host, "--external-ca-file", caFile}}
	require.NoError(t, b.Start())
	t.Cleanup(b.Stop)
	stack.WaitServing(t, p.url, b)
	return p
}

// bindAtUpstream runs Bindery's kubectl bind against upstream's backend:
// the user logs in and clicks the resource's Bind button.
func (k *consumer) bindAtUpstream(t *testing.T, p *provider, user, resource string) {
	t.Helper()
	proc, out := stack.KubectlBind(t, k.cluster, bins, nil, p.url+"/export", "--no-browser", "--skip-konnector", "--login-timeout=2m", "--timeout=2m")
	// Upstream's selection page has a Bind button per CRD, with the
	// plural as its class.
	loginAndChoose(t, stack.LoginLink(t, proc, out), user, "a."+resource)
	require.NoError(t, proc.Wait(3*time.Minute), "kubectl-bind:\n%s", out)
}
