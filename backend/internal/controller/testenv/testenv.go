// Package testenv runs backend controllers in-process against a real test
// cluster from the test framework, for the controllers' integration tests.
package testenv

import (
	"context"
	"fmt"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/bindery-dev/bindery/apis/controllerqueue"
	"github.com/bindery-dev/bindery/apis/crds"
	"github.com/bindery-dev/bindery/apis/providername"
	"github.com/bindery-dev/bindery/backend/internal/consumer"
	"github.com/bindery-dev/bindery/backend/internal/onboarding"
	"github.com/bindery-dev/bindery/backend/internal/scheme"
	"github.com/bindery-dev/bindery/test/framework"
)

// Provider is a provider cluster with Bindery's CRDs and a client that
// knows Bindery's types.
type Provider struct {
	*framework.Cluster
	Client client.Client
}

// StartProvider starts a cluster and installs the provider CRDs.
func StartProvider(t *testing.T) *Provider {
	t.Helper()
	c := framework.StartCluster(t, "provider")
	cl, err := client.New(c.Config, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	if err := crds.Install(t.Context(), cl, crds.Provider...); err != nil {
		t.Fatal(err)
	}
	return &Provider{Cluster: c, Client: cl}
}

// RunManager starts a controller-runtime manager with the controllers
// setup adds, until the test ends.
func (p *Provider) RunManager(t *testing.T, setup func(mgr ctrl.Manager) error) {
	t.Helper()
	mgr, err := ctrl.NewManager(p.Config, ctrl.Options{
		Controller: controllerqueue.Config(),
		Scheme:     scheme.Scheme,
		Metrics:    metricsserver.Options{BindAddress: "0"},
		Logger:     zap.New(zap.WriteTo(p.LogWriter("backend-controllers")), zap.UseDevMode(true)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := setup(mgr); err != nil {
		t.Fatal(err)
	}
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

// ClusterNamespace creates a consumer cluster namespace.
func (p *Provider) ClusterNamespace(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{consumer.RoleLabel: consumer.RoleCluster}}}
	if err := p.Client.Create(t.Context(), ns); err != nil {
		t.Fatal(err)
	}
}

// CreateCRD creates a simple CRD and waits until it is established.
func (p *Provider) CreateCRD(t *testing.T, group, plural, kind string, scope apiextensionsv1.ResourceScope, labels map[string]string) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	crd := framework.SimpleCRD(group, plural, kind, scope)
	crd.Labels = labels
	if err := p.Client.Create(t.Context(), crd); err != nil {
		t.Fatal(err)
	}
	if err := crds.WaitEstablished(t.Context(), p.Client, crd.Name); err != nil {
		t.Fatal(err)
	}
	return crd
}

// WaitEvent waits for an events.k8s.io Event about obj with reason, and
// returns its note.
func (p *Provider) WaitEvent(t *testing.T, obj client.Object, reason string) string {
	t.Helper()
	note := ""
	framework.Eventually(t, func() (bool, string) {
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
	}, time.Minute)
	return note
}

// ConsumerClient onboards a consumer and returns its cluster namespace and a
// client that uses its ServiceAccount's token, as its konnector would.
func (p *Provider) ConsumerClient(t *testing.T, who providername.Consumer) (string, client.Client) {
	t.Helper()
	res, err := onboarding.Ensure(t.Context(), p.Client, who, "Test Provider")
	if err != nil {
		t.Fatal(err)
	}
	ttl := int64(3600)
	tr, err := p.Kube.CoreV1().ServiceAccounts(res.Namespace).CreateToken(t.Context(), res.ServiceAccount,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &ttl}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := rest.AnonymousClientConfig(p.Config)
	cfg.BearerToken = tr.Status.Token
	c, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return res.Namespace, c
}
