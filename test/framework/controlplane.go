package framework

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/controllerqueue"
	"github.com/bindery-dev/bindery/apis/crds"
)

// ControlPlane is a provider cluster with the provider CRDs (kube-bind's
// and Bindery's) installed, and a client that knows their types. The
// backend's controllers run against it in-process with RunManager.
type ControlPlane struct {
	*Cluster
}

// StartControlPlane starts a cluster and installs the provider CRDs.
func StartControlPlane(t *testing.T) *ControlPlane {
	t.Helper()
	c := StartCluster(t, "provider")
	require.NoError(t, crds.Install(t.Context(), c.Client, crds.Provider...))
	return &ControlPlane{Cluster: c}
}

// RunManager starts a controller-runtime manager with the controllers
// setup adds, until the test ends.
func (p *ControlPlane) RunManager(t *testing.T, setup func(mgr ctrl.Manager) error) {
	t.Helper()
	controllers := controllerqueue.Config()
	// Tests of one package run the same controllers in managers of their
	// own, in one process.
	controllers.SkipNameValidation = ptr.To(true)
	mgr, err := ctrl.NewManager(p.Config, ctrl.Options{
		Controller: controllers,
		Scheme:     Scheme,
		Metrics:    metricsserver.Options{BindAddress: "0"},
		Logger:     zap.New(zap.WriteTo(p.LogWriter("backend-controllers")), zap.UseDevMode(true)),
	})
	require.NoError(t, err)
	require.NoError(t, setup(mgr))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("manager did not stop within 30s")
		}
	})
}

// Namespace creates a namespace with labels.
func (p *ControlPlane) Namespace(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	require.NoError(t, p.Client.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}))
}

// CreateCRD creates a simple CRD and waits until it is established.
func (p *ControlPlane) CreateCRD(t *testing.T, group, plural, kind string, scope apiextensionsv1.ResourceScope, labels map[string]string) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	crd := SimpleCRD(group, plural, kind, scope)
	crd.Labels = labels
	require.NoError(t, p.Client.Create(t.Context(), crd))
	require.NoError(t, crds.WaitEstablished(t.Context(), p.Client, crd.Name))
	return crd
}

// OfferDatabases creates the databases CRD of db.example.com and the
// APIServiceExportTemplate "postgres" that offers it, with claims.
func (p *ControlPlane) OfferDatabases(t *testing.T, claims ...binderyv1alpha1.PermissionClaim) {
	t.Helper()
	p.CreateCRD(t, "db.example.com", "databases", "Database", apiextensionsv1.NamespaceScoped, nil)
	require.NoError(t, p.Client.Create(t.Context(), &binderyv1alpha1.APIServiceExportTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: "postgres"},
		Spec: binderyv1alpha1.APIServiceExportTemplateSpec{
			DisplayName:      "PostgreSQL",
			Resources:        []binderyv1alpha1.ExportedResource{{Group: "db.example.com", Resource: "databases"}},
			PermissionClaims: claims,
		},
	}))
}

// WaitEvent waits for an events.k8s.io Event about obj with reason, and
// returns its note.
func (p *ControlPlane) WaitEvent(t *testing.T, obj client.Object, reason string) string {
	t.Helper()
	note := ""
	Eventually(t, func() (bool, string) {
		list := &eventsv1.EventList{}
		if err := p.Client.List(t.Context(), list, client.InNamespace(obj.GetNamespace())); err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, e := range list.Items {
			if e.Regarding.UID != obj.GetUID() {
				continue
			}
			if e.Reason == reason {
				note = e.Note
				return true, ""
			}
			seen = append(seen, e.Reason)
		}
		return false, fmt.Sprintf("no %s event for %s/%s; seen %v", reason, obj.GetNamespace(), obj.GetName(), seen)
	}, WaitTimeout)
	return note
}

// TokenClient is a client that authenticates with a token of
// ServiceAccount namespace/name, as a konnector with the kubeconfig the
// backend issued for it would.
func (p *ControlPlane) TokenClient(t *testing.T, namespace, name string) client.Client {
	t.Helper()
	ttl := int64(3600)
	tr, err := p.Kube.CoreV1().ServiceAccounts(namespace).CreateToken(t.Context(), name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &ttl}}, metav1.CreateOptions{})
	require.NoError(t, err)
	cfg := rest.AnonymousClientConfig(p.Config)
	cfg.BearerToken = tr.Status.Token
	c, err := client.New(cfg, client.Options{Scheme: Scheme})
	require.NoError(t, err)
	return c
}
