package cmd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindery-dev/bindery/cli/internal/bind"
	"github.com/bindery-dev/bindery/test/framework"
)

var konnectorBin string

func TestMain(m *testing.M) { framework.MainWithKonnector(m, &konnectorBin) }

// response is what a provider returns after the login: the provider
// kubeconfig and one request per resource.
func response(t testing.TB, prov *framework.Cluster, resources ...kubebindv1alpha1.GroupResource) *kubebindv1alpha1.BindingResponse {
	t.Helper()
	req := map[string]any{
		"apiVersion": "kube-bind.io/v1alpha1", "kind": "APIServiceExportRequest",
		"metadata": map[string]any{"name": "databases"},
		"spec":     map[string]any{"resources": resources},
	}
	raw, err := json.Marshal(req)
	require.NoError(t, err)
	return &kubebindv1alpha1.BindingResponse{Kubeconfig: framework.ProviderKubeconfig(t, prov), Requests: []runtime.RawExtension{{Raw: raw}}}
}

// bindEnv starts a provider (with a stand-in for the backend's
// controllers) and a consumer with the konnector running as a process.
func bindEnv(t testing.TB) (prov, cons *framework.Cluster, cc client.Client) {
	t.Helper()
	cs := framework.StartClusters(t, "provider", "consumer")
	prov, cons = cs[0], cs[1]
	framework.ProviderSide(t, prov)
	framework.ServeExportRequests(t, prov)
	k := &framework.Process{Name: "konnector", Path: konnectorBin, Log: cons.LogWriter("konnector"),
		Args: []string{"--kubeconfig", cons.Kubeconfig, "--leader-elect=false", "--metrics-bind-address=0", "--health-probe-bind-address=0", "--heartbeat-interval=4s"}}
	require.NoError(t, k.Start())
	t.Cleanup(k.Stop)
	cc = cons.Client
	framework.Eventually(t, func() (bool, string) {
		err := cc.Get(t.Context(), client.ObjectKey{Name: "apiservicebindings.kube-bind.io"}, &apiextensionsv1.CustomResourceDefinition{})
		return err == nil, fmt.Sprint(err) // the konnector installs it
	}, framework.WaitTimeout)
	return prov, cons, cc
}

// boundEnv is bindEnv with Databases bound by kubectl bind, as a user
// would after the login.
func boundEnv(t *testing.T) (prov, cons *framework.Cluster, cc client.Client, res *bind.Result) {
	t.Helper()
	prov, cons, cc = bindEnv(t)
	_, err := bind.ClusterKey(t.Context(), cons.Kube, "https://provider.example.com/authorize")
	require.NoError(t, err)
	res, err = bind.Apply(t.Context(), response(t, prov, kubebindv1alpha1.GroupResource{Group: "db.example.com", Resource: "databases"}),
		bind.ApplyOptions{Consumer: cons.Config, Timeout: time.Minute, Out: &bytes.Buffer{}})
	require.NoError(t, err)
	return prov, cons, cc, res
}

// TestBindListUnbind covers the Kubernetes side of kubectl bind against
// two real clusters: what a bind creates, what list shows, and what
// unbind removes. The konnector runs as a process, which needs no node
// (the Deployment kubectl bind applies has no pods here); e2e's
// TestPlatformTeamInstall runs it on a node.
func TestBindListUnbind(t *testing.T) {
	t.Parallel()
	prov, cons, cc := bindEnv(t)
	ctx := t.Context()

	t.Run("a provider kubeconfig that would run code is refused, runs nothing and creates nothing", func(t *testing.T) {
		marker := filepath.Join(t.TempDir(), "pwned")
		for _, o := range []bind.ApplyOptions{
			{Consumer: cons.Config, Timeout: 10 * time.Second, Out: &bytes.Buffer{}},
			{Consumer: cons.Config, Out: &bytes.Buffer{}, DryRun: true},
		} {
			resp := response(t, prov, kubebindv1alpha1.GroupResource{Group: "db.example.com", Resource: "databases"})
			resp.Kubeconfig = framework.WithExecPlugin(t, resp.Kubeconfig, "/bin/sh", "-c", "touch "+marker)
			_, err := bind.Apply(ctx, resp, o)
			require.Error(t, err)
			assert.Contains(t, err.Error(), `refused exec (it would run "/bin/sh")`)
			assert.Contains(t, err.Error(), "hint:")
			_, statErr := os.Stat(marker)
			assert.True(t, os.IsNotExist(statErr), "the provider's exec plugin ran")
		}
		secrets, err := cons.Kube.CoreV1().Secrets("kube-bind").List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		assert.Empty(t, secrets.Items, "no Secret is stored")
		d, err := dynamic.NewForConfig(cons.Config)
		require.NoError(t, err)
		// The konnector may still be establishing the CRD: not served yet
		// means no binding too.
		list, err := d.Resource(bind.Bindings).List(ctx, metav1.ListOptions{})
		if !apierrors.IsNotFound(err) {
			require.NoError(t, err)
			assert.Empty(t, list.Items, "no binding is created")
		}
	})

	t.Run("dry-run prints every object and creates nothing", func(t *testing.T) {
		var buf bytes.Buffer
		res, err := bind.Apply(ctx, response(t, prov, kubebindv1alpha1.GroupResource{Group: "db.example.com", Resource: "databases"}),
			bind.ApplyOptions{Consumer: cons.Config, Out: &buf, DryRun: true})
		require.NoError(t, err)
		assert.Nil(t, res)
		for _, kind := range []string{"Secret", "APIServiceExportRequest", "APIServiceBinding", "ServiceAccount", "ClusterRole", "Deployment"} {
			assert.Contains(t, buf.String(), "kind: "+kind)
		}
		assert.Contains(t, buf.String(), "- databases.db.example.com", "the konnector is granted the new resource")
		assert.NotContains(t, buf.String(), "client-key-data", "no credentials are printed")
		err = cc.Get(ctx, client.ObjectKey{Name: framework.BindingName}, &kubebindv1alpha1.APIServiceBinding{})
		assert.True(t, apierrors.IsNotFound(err), "nothing is created: %v", err)
	})

	out := &bytes.Buffer{}
	start := time.Now()
	res, err := bind.Apply(ctx, response(t, prov, kubebindv1alpha1.GroupResource{Group: "db.example.com", Resource: "databases"}),
		bind.ApplyOptions{Consumer: cons.Config, Timeout: time.Minute, Out: out, Verbose: true})
	require.NoError(t, err, out.String())
	t.Logf("bind took %s after the login:\n%s", time.Since(start), out)

	t.Run("bind stores the kubeconfig, creates the binding and deploys the konnector granted it", func(t *testing.T) {
		assert.Equal(t, []string{framework.BindingName}, res.Bindings)
		s := &corev1.Secret{}
		require.NoError(t, cc.Get(ctx, client.ObjectKey{Namespace: "kube-bind", Name: res.Secret}, s))
		assert.NotEmpty(t, s.Data["kubeconfig"])
		b := &kubebindv1alpha1.APIServiceBinding{}
		require.NoError(t, cc.Get(ctx, client.ObjectKey{Name: framework.BindingName}, b))
		assert.Equal(t, res.Secret, b.Spec.KubeconfigSecretRef.Name)
		assert.Equal(t, framework.BindingName, b.Annotations[bind.ResourcesAnnotation])
		cr := &rbacv1.ClusterRole{}
		require.NoError(t, cc.Get(ctx, client.ObjectKey{Name: "bindery-konnector"}, cr))
		granted := false
		for _, r := range cr.Rules {
			granted = granted || (len(r.APIGroups) == 1 && r.APIGroups[0] == "db.example.com")
		}
		assert.True(t, granted, "the konnector is granted the bound resource")
		assert.Contains(t, out.String(), "binding(s) Ready")
	})

	t.Run("binding again reuses the Secret", func(t *testing.T) {
		again, err := bind.Apply(ctx, response(t, prov, kubebindv1alpha1.GroupResource{Group: "db.example.com", Resource: "databases"}),
			bind.ApplyOptions{Consumer: cons.Config, Timeout: time.Minute, Out: &bytes.Buffer{}})
		require.NoError(t, err)
		assert.Equal(t, res.Secret, again.Secret)
	})

	t.Run("a refused request ends the bind with the provider's message", func(t *testing.T) {
		bad := response(t, prov, kubebindv1alpha1.GroupResource{Group: "db.example.com", Resource: "caches"})
		raw := strings.Replace(string(bad.Requests[0].Raw), `"name":"databases"`, `"name":"caches"`, 1)
		bad.Requests[0].Raw = []byte(raw)
		partial, err := bind.Apply(ctx, bad, bind.ApplyOptions{Consumer: cons.Config, Timeout: time.Minute, Out: &bytes.Buffer{}})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "caches.db.example.com is not offered")
		assert.Contains(t, err.Error(), "hint:")
		assert.Contains(t, partial.Leftovers(), "kubectl delete secret -n kube-bind "+res.Secret, "what was left in place is said")
	})

	t.Run("an unreachable consumer cluster gets a clear error", func(t *testing.T) {
		dead := rest.CopyConfig(cons.Config)
		dead.Host = "https://127.0.0.1:1"
		_, err := bind.Apply(ctx, response(t, prov, kubebindv1alpha1.GroupResource{Group: "db.example.com", Resource: "databases"}),
			bind.ApplyOptions{Consumer: dead, Timeout: 10 * time.Second, Out: &bytes.Buffer{}})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "cannot reach the consumer cluster")
	})

	t.Run("apiservice binds without a browser from files", func(t *testing.T) {
		dir := t.TempDir()
		remote := filepath.Join(dir, "provider.kubeconfig")
		require.NoError(t, os.WriteFile(remote, framework.ProviderKubeconfig(t, prov), 0o600))
		req := filepath.Join(dir, "request.yaml")
		require.NoError(t, os.WriteFile(req, []byte(`apiVersion: kube-bind.io/v1alpha1
kind: APIServiceExportRequest
metadata:
  name: databases
spec:
  resources:
  - group: db.example.com
    resource: databases
`), 0o600))
		id, err := run(t, "--kubeconfig", cons.Kubeconfig, "cluster-id")
		require.NoError(t, err)
		assert.Regexp(t, `^[0-9a-f]{12}\n$`, id, "what bindery-backend issue-kubeconfig --cluster-id takes")
		out, err := run(t, "--kubeconfig", cons.Kubeconfig, "apiservice", "--remote-kubeconfig", remote, "-f", req)
		require.NoError(t, err, out)
		assert.Contains(t, out, "Bound [databases.db.example.com]")
	})

	t.Run("a newer konnector is not downgraded", func(t *testing.T) {
		d, err := dynamic.NewForConfig(cons.Config)
		require.NoError(t, err)
		deployments := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
		patch := []byte(`{"metadata":{"labels":{"app.kubernetes.io/version":"v99.0.0"}}}`)
		_, err = d.Resource(deployments).Namespace("kube-bind").Patch(ctx, "konnector", types.MergePatchType, patch, metav1.PatchOptions{})
		require.NoError(t, err)
		_, err = bind.Apply(ctx, response(t, prov, kubebindv1alpha1.GroupResource{Group: "db.example.com", Resource: "databases"}),
			bind.ApplyOptions{Consumer: cons.Config, Timeout: time.Minute, Out: &bytes.Buffer{}})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "newer than this kubectl-bind's")
		assert.Contains(t, err.Error(), "--skip-konnector")
	})

	t.Run("missing permissions in the consumer get a clear error", func(t *testing.T) {
		nobody := cons.AddUser(t, "nobody")
		_, err := bind.Apply(ctx, response(t, prov, kubebindv1alpha1.GroupResource{Group: "db.example.com", Resource: "databases"}),
			bind.ApplyOptions{Consumer: nobody, Timeout: 10 * time.Second, Out: &bytes.Buffer{}})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "not allowed in the consumer cluster")
		assert.Contains(t, err.Error(), "use an admin context")
	})

	t.Run("list shows the binding, its provider, readiness and heartbeat", func(t *testing.T) {
		d, err := dynamic.NewForConfig(cons.Config)
		require.NoError(t, err)
		var buf bytes.Buffer
		framework.Eventually(t, func() (bool, string) {
			buf.Reset()
			require.NoError(t, list(ctx, d, cons.Kube, &buf, time.Now()))
			return strings.Contains(buf.String(), "ago"), buf.String()
		}, framework.WaitTimeout)
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		require.Len(t, lines, 2, buf.String())
		assert.Regexp(t, `^NAME\s+PROVIDER\s+RESOURCES\s+READY\s+HEARTBEAT`, lines[0])
		assert.Regexp(t, `^databases\.db\.example\.com\s+Test Provider\s+databases\.db\.example\.com\s+True\s+\S+ ago`, lines[1])
	})

	t.Run("unbind asks, then removes the binding and its CRD", func(t *testing.T) {
		d, err := dynamic.NewForConfig(cons.Config)
		require.NoError(t, err)
		var outBuf bytes.Buffer
		err = unbind(ctx, d, framework.BindingName, &unbindOptions{timeout: time.Minute}, strings.NewReader("n\n"), &outBuf)
		require.Error(t, err, "answering no keeps the binding")
		assert.Contains(t, err.Error(), "pass --yes")
		assert.Contains(t, outBuf.String(), "deleted on the provider first")
		require.NoError(t, cc.Get(ctx, client.ObjectKey{Name: framework.BindingName}, &kubebindv1alpha1.APIServiceBinding{}))

		require.NoError(t, unbind(ctx, d, framework.BindingName, &unbindOptions{timeout: time.Minute}, strings.NewReader("y\n"), &outBuf))
		err = cc.Get(ctx, client.ObjectKey{Name: framework.BindingName}, &apiextensionsv1.CustomResourceDefinition{})
		assert.True(t, apierrors.IsNotFound(err), "the CRD is gone: %v", err)
		err = unbind(ctx, d, framework.BindingName, &unbindOptions{yes: true, timeout: time.Minute}, nil, &outBuf)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "kubectl bind list")
	})
}
