package framework

// A bound pair: what bindery-backend gives a consumer on the provider,
// set up with admin rights, and a consumer cluster with a binding's
// kubeconfig Secret, for the integration tests of the konnector and
// kubectl bind. It stands in for the backend's APIServiceNamespace and
// export request controllers; the real backend is exercised end to end in
// test/e2e.

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindery-dev/bindery/apis/crds"
	"github.com/bindery-dev/bindery/apis/crdsnapshot"
)

// ClusterNS is the consumer's cluster namespace on the provider.
const ClusterNS = "consumer-ns"

// Databases is the bound resource.
var Databases = schema.GroupVersionResource{Group: "db.example.com", Version: "v1", Resource: "databases"}

// DatabaseCRD is the provider's CRD.
func DatabaseCRD() *apiextensionsv1.CustomResourceDefinition {
	return SimpleCRD("db.example.com", "databases", "Database", apiextensionsv1.NamespaceScoped)
}

// ProviderSide sets up, with admin rights, what bindery-backend gives a
// consumer: its cluster namespace, ClusterBinding and an export; and it
// stands in for the backend's APIServiceNamespace controller. The real
// backend is exercised end to end in test/e2e.
func ProviderSide(t testing.TB, p *Cluster, mutate ...func(*kubebindv1alpha1.APIServiceExport)) {
	t.Helper()
	ctx := t.Context()
	c := p.Client
	require.NoError(t, crds.Install(ctx, c, crds.Provider...))
	crd := DatabaseCRD()
	require.NoError(t, c.Create(ctx, crd))
	require.NoError(t, crds.WaitEstablished(ctx, c, crd.Name))
	require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ClusterNS}}))
	require.NoError(t, c.Create(ctx, &kubebindv1alpha1.ClusterBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ClusterNS, Name: "cluster"},
		Spec:       kubebindv1alpha1.ClusterBindingSpec{ProviderPrettyName: "Test Provider", KubeconfigSecretRef: kubebindv1alpha1.LocalSecretKeyRef{Name: "kubeconfig", Key: "kubeconfig"}},
	}))
	snap, err := crdsnapshot.FromCRD(crd, nil)
	require.NoError(t, err)
	export := &kubebindv1alpha1.APIServiceExport{ObjectMeta: metav1.ObjectMeta{Namespace: ClusterNS, Name: crd.Name}}
	export.Spec.APIServiceExportCRDSpec = *snap
	export.Spec.InformerScope = kubebindv1alpha1.NamespacedScope
	for _, m := range mutate {
		m(export)
	}
	require.NoError(t, c.Create(ctx, export))

	standIn(t, p, &kubebindv1alpha1.APIServiceNamespace{}, func(ctx context.Context, asn *kubebindv1alpha1.APIServiceNamespace) error {
		if asn.Status.Namespace != "" {
			return nil
		}
		pns := ClusterNS + "-" + asn.Name
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: pns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		asn.Status.Namespace = pns
		return c.Status().Update(ctx, asn)
	})
}

// standIn runs reconcile, until t ends, for each object of obj's kind in
// the cluster namespace whenever an informer sees it change, as the
// backend's controller would; a failed reconcile is tried again a moment
// later.
func standIn[T client.Object](t testing.TB, p *Cluster, obj T, reconcile func(context.Context, T) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ca, err := cache.New(p.Config, cache.Options{Scheme: Scheme, DefaultNamespaces: map[string]cache.Config{ClusterNS: {}}})
	require.NoError(t, err)
	inf, err := ca.GetInformer(ctx, obj)
	require.NoError(t, err)
	var handle func(any)
	handle = func(o any) {
		cur, ok := o.(T)
		if !ok || ctx.Err() != nil {
			return
		}
		if err := reconcile(ctx, cur.DeepCopyObject().(T)); err != nil && !apierrors.IsConflict(err) && ctx.Err() == nil {
			// A conflict means a newer version is on its way.
			time.AfterFunc(100*time.Millisecond, func() { handle(o) })
		}
	}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{AddFunc: handle, UpdateFunc: func(_, o any) { handle(o) }})
	require.NoError(t, err)
	go func() { _ = ca.Start(ctx) }()
	require.True(t, ca.WaitForCacheSync(ctx), "the stand-in's cache syncs")
}

// ProviderKubeconfig is an admin kubeconfig whose context namespace is the
// cluster namespace, as the backend's kubeconfigs are.
func ProviderKubeconfig(t testing.TB, p *Cluster) []byte {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(p.Kubeconfig)
	require.NoError(t, err)
	cfg.Contexts[cfg.CurrentContext].Namespace = ClusterNS
	out, err := clientcmd.Write(*cfg)
	require.NoError(t, err)
	return out
}

// WithExecPlugin returns kubeconfig with an exec credential plugin added
// to its users, as a malicious provider could send it.
func WithExecPlugin(t testing.TB, kubeconfig []byte, command string, args ...string) []byte {
	t.Helper()
	cfg, err := clientcmd.Load(kubeconfig)
	require.NoError(t, err)
	for _, u := range cfg.AuthInfos {
		u.Exec = &clientcmdapi.ExecConfig{APIVersion: "client.authentication.k8s.io/v1", Command: command, Args: args, InteractiveMode: clientcmdapi.NeverExecInteractiveMode}
	}
	out, err := clientcmd.Write(*cfg)
	require.NoError(t, err)
	return out
}

// BindingName is the name of the binding of Databases.
const BindingName = "databases.db.example.com"

// ConsumerSide installs the APIServiceBinding CRD in the consumer and
// stores the provider kubeconfig in Secret kube-bind/provider-kubeconfig.
func ConsumerSide(t testing.TB, cons, prov *Cluster) {
	t.Helper()
	ctx := t.Context()
	c := cons.Client
	require.NoError(t, crds.Install(ctx, c, crds.Consumer...))
	require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-bind"}}))
	require.NoError(t, c.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-bind", Name: "provider-kubeconfig"},
		Data:       map[string][]byte{"kubeconfig": ProviderKubeconfig(t, prov)},
	}))
}

// Binding is the APIServiceBinding of Databases.
func Binding() *kubebindv1alpha1.APIServiceBinding {
	return &kubebindv1alpha1.APIServiceBinding{
		ObjectMeta: metav1.ObjectMeta{Name: BindingName},
		Spec: kubebindv1alpha1.APIServiceBindingSpec{KubeconfigSecretRef: kubebindv1alpha1.ClusterSecretKeyRef{
			LocalSecretKeyRef: kubebindv1alpha1.LocalSecretKeyRef{Name: "provider-kubeconfig", Key: "kubeconfig"}, Namespace: "kube-bind"}},
	}
}

// ServeExportRequests stands in for the backend's export request
// controller: requests in the cluster namespace for databases turn
// Succeeded (the export already exists); any other request turns Failed
// with a terminal message, as the backend refuses what it does not offer.
func ServeExportRequests(t testing.TB, p *Cluster) {
	t.Helper()
	c := p.Client
	standIn(t, p, &kubebindv1alpha1.APIServiceExportRequest{}, func(ctx context.Context, r *kubebindv1alpha1.APIServiceExportRequest) error {
		if r.Status.Phase != "" && r.Status.Phase != kubebindv1alpha1.APIServiceExportRequestPhasePending {
			return nil
		}
		r.Status.Phase = kubebindv1alpha1.APIServiceExportRequestPhaseSucceeded
		for _, res := range r.Spec.Resources {
			if res.Group != Databases.Group || res.Resource != Databases.Resource {
				r.Status.Phase = kubebindv1alpha1.APIServiceExportRequestPhaseFailed
				r.Status.TerminalMessage = res.Resource + "." + res.Group + " is not offered"
			}
		}
		return c.Status().Update(ctx, r)
	})
}

// BuildKonnector builds the konnector binary into dir, for tests that run
// it as a process, and returns its path.
func BuildKonnector(dir string) (string, error) {
	bins, err := Build(dir, KonnectorPkg)
	if err != nil {
		return "", err
	}
	return bins["konnector"], nil
}

// MainWithKonnector is a TestMain that builds the konnector into a
// temporary directory, sets *bin to it, and runs the tests.
func MainWithKonnector(m *testing.M, bin *string) {
	dir, err := os.MkdirTemp("", "konnector-bin-")
	if err == nil {
		*bin, err = BuildKonnector(dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := Run(m)
	_ = os.RemoveAll(dir)
	os.Exit(code)
}
