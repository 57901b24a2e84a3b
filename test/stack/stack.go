// Package stack starts Bindery's programs as processes next to framework
// clusters, as a platform operator and an app team run them: the backend
// and the example operator on the provider, the konnector and kubectl bind
// on a consumer. The end-to-end tests and `make demo` share it.
package stack

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/bindery-dev/bindery/test/framework"
)

// Resources the journeys use.
var (
	Databases = schema.GroupVersionResource{Group: "db.example.com", Version: "v1", Resource: "databases"}
	Templates = schema.GroupVersionResource{Group: "bindery.dev", Version: "v1alpha1", Resource: "apiserviceexporttemplates"}
	Bindings  = schema.GroupVersionResource{Group: "kube-bind.io", Version: "v1alpha1", Resource: "apiservicebindings"}
)

// DatabaseBinding is the name of the binding (and CRD) of the example
// template's resource.
const DatabaseBinding = "databases.db.example.com"

// Programs are the built programs, by name.
type Programs map[string]string

// Build builds the backend, kubectl-bind, the konnector and the example
// operator into dir.
func Build(dir string) (Programs, error) {
	return framework.Build(dir, framework.BackendPkg, framework.KubectlBindPkg, framework.KonnectorPkg, framework.ExampleOperatorPkg)
}

// BackendOptions configure StartBackend.
type BackendOptions struct {
	// Port to serve the binding flow on, at http://localhost:<port>; a
	// free one when zero.
	Port int
	// Issuer, ClientID and ClientSecret are the OpenID provider's; the
	// backend's embedded issuer when Issuer is empty.
	Issuer, ClientID, ClientSecret string
	// Args are more flags.
	Args []string
}

// BackendURL returns the address the backend started with o serves, for
// an OpenID provider's redirect URI, before it starts.
func (o *BackendOptions) BackendURL(t framework.TB) string {
	if o.Port == 0 {
		o.Port = framework.FreePort(t)
	}
	return "http://localhost:" + strconv.Itoa(o.Port)
}

// StartBackend starts bindery-backend on cluster c until t ends, and
// returns its address once it serves the BindingProvider document.
func StartBackend(t framework.TB, c *framework.Cluster, bins Programs, o BackendOptions) string {
	t.Helper()
	base, _ := StartBackendProcess(t, c, bins, o)
	return base
}

// StartBackendProcess is StartBackend, and returns the backend's process
// too, for what it costs.
func StartBackendProcess(t framework.TB, c *framework.Cluster, bins Programs, o BackendOptions) (string, *framework.Process) {
	t.Helper()
	base := o.BackendURL(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bindery-system"}}
	if _, err := c.Kube.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating namespace bindery-system: %v", err)
	}
	args := []string{"--kubeconfig", c.Kubeconfig, "--leader-elect=false", "--metrics-bind-address=0",
		"--health-probe-bind-address", "127.0.0.1:" + strconv.Itoa(framework.FreePort(t)),
		"--listen-address", "127.0.0.1:" + strconv.Itoa(o.Port), "--external-url", base,
		"--provider-pretty-name", "Example Databases", "--namespace", "bindery-system", "--heartbeat-interval", "10s"}
	if o.Issuer == "" {
		args = append(args, "--oidc-issuer=embedded")
	} else {
		args = append(args, "--oidc-issuer", o.Issuer, "--oidc-client-id", o.ClientID, "--oidc-client-secret", o.ClientSecret)
	}
	p := &framework.Process{Name: "bindery-backend", Path: bins["bindery-backend"], Log: c.LogWriter("bindery-backend"), Args: append(args, o.Args...)}
	start(t, p)
	WaitServing(t, base, p)
	return base, p
}

// WaitServing waits until a backend at base serves its BindingProvider
// document, failing the test at once if its process p (when not nil) ends.
func WaitServing(t framework.TB, base string, p *framework.Process) {
	t.Helper()
	framework.Eventually(t, func() (bool, string) {
		if p != nil {
			if done, err := p.Exited(); done {
				t.Fatalf("%s exited: %v", p.Name, err)
			}
		}
		resp, err := http.Get(base + "/export")
		if err != nil {
			return false, err.Error()
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	}, framework.WaitTimeout)
}

// StartOperator starts the example operator on cluster c until t ends; it
// installs the Database CRD.
func StartOperator(t framework.TB, c *framework.Cluster, bins Programs) {
	t.Helper()
	start(t, &framework.Process{Name: "example-operator", Path: bins["example-operator"], Log: c.LogWriter("example-operator"),
		Args: []string{"--kubeconfig", c.Kubeconfig, "--install-crd", "--delay", "2s"}})
	framework.Eventually(t, func() (bool, string) {
		err := c.Client.Get(t.Context(), client.ObjectKey{Name: DatabaseBinding}, &apiextensionsv1.CustomResourceDefinition{})
		return err == nil, fmt.Sprint(err)
	}, framework.WaitTimeout)
}

// StartKonnector starts the konnector on consumer cluster c until t ends,
// waits until it has installed the APIServiceBinding CRD, and returns its
// process (which Start runs again). It runs as a process, which needs no
// node; e2e's TestPlatformTeamInstall runs the
// Deployment kubectl bind applies on one.
func StartKonnector(t framework.TB, c *framework.Cluster, bins Programs) *framework.Process {
	t.Helper()
	p := &framework.Process{Name: "konnector", Path: bins["konnector"], Log: c.LogWriter("konnector"),
		Args: []string{"--kubeconfig", c.Kubeconfig, "--leader-elect=false", "--metrics-bind-address=0", "--health-probe-bind-address=0", "--heartbeat-interval=5s"}}
	start(t, p)
	framework.Eventually(t, func() (bool, string) {
		err := c.Client.Get(t.Context(), client.ObjectKey{Name: "apiservicebindings.kube-bind.io"}, &apiextensionsv1.CustomResourceDefinition{})
		return err == nil, fmt.Sprint(err)
	}, framework.WaitTimeout)
	return p
}

// ApplyTemplate creates the template in a YAML file of the repository and
// waits until it is Ready.
func ApplyTemplate(t framework.TB, d dynamic.Interface, path string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(framework.RepoRoot(), path))
	if err != nil {
		t.Fatal(err)
	}
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(raw, &obj.Object); err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	if _, err := d.Resource(Templates).Create(t.Context(), obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating template %s: %v", obj.GetName(), err)
	}
	framework.Eventually(t, func() (bool, string) {
		tpl, err := d.Resource(Templates).Get(t.Context(), obj.GetName(), metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		c := Condition(tpl, "Ready")
		return c["status"] == "True", fmt.Sprintf("Ready condition: %v", c)
	}, framework.WaitTimeout)
	return obj.GetName()
}

// Condition returns the condition of type typ of an object.
func Condition(obj *unstructured.Unstructured, typ string) map[string]any {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == typ {
			return m
		}
	}
	return nil
}

// KubectlBind starts the kubectl-bind binary against consumer cluster c;
// its output goes to out as well as to the cluster's logs.
func KubectlBind(t framework.TB, c *framework.Cluster, bins Programs, out io.Writer, args ...string) (*framework.Process, *Output) {
	t.Helper()
	o := &Output{log: c.LogWriter("kubectl-bind"), also: out}
	p := &framework.Process{Name: "kubectl-bind", Path: bins["kubectl-bind"], Log: o,
		Args: append(args, "--kubeconfig", c.Kubeconfig)}
	start(t, p)
	return p, o
}

var authorizeURL = regexp.MustCompile(`http://localhost:\d+/authorize\?\S+`)

// LoginLink waits until kubectl bind prints the login link and returns it.
func LoginLink(t framework.TB, p *framework.Process, out *Output) string {
	t.Helper()
	var link string
	framework.Eventually(t, func() (bool, string) {
		link = authorizeURL.FindString(out.String())
		if done, err := p.Exited(); done && link == "" {
			t.Fatalf("kubectl-bind ended before the login: %v\n%s", err, out)
		}
		return link != "", "kubectl-bind prints the login link:\n" + out.String()
	}, framework.WaitTimeout)
	if _, err := url.Parse(link); err != nil {
		t.Fatalf("kubectl-bind printed a bad login link %q: %v", link, err)
	}
	return link
}

// Output is a process's output, kept in memory and written on to the
// writers it was made with, if any.
type Output struct {
	log  io.Writer
	also io.Writer
	mu   sync.Mutex
	buf  bytes.Buffer
}

// Tee returns an Output that also writes to log.
func Tee(log io.Writer) *Output { return &Output{log: log} }

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, w := range []io.Writer{o.log, o.also} {
		if w != nil {
			_, _ = w.Write(p)
		}
	}
	return o.buf.Write(p)
}

func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// start starts a process until t ends.
func start(t framework.TB, p *framework.Process) {
	t.Helper()
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
}
