package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindery-dev/bindery/test/framework"
	"github.com/bindery-dev/bindery/test/stack"
)

// binding is the name of the APIServiceBinding (and CRD) of the example
// template's resource.
const binding = stack.DatabaseBinding

// TestJourneys walks the three user journeys with the real programs: the
// platform operator offers databases; an app team binds them with kubectl
// bind through a browser login, uses one, and unbinds; a second team binds
// the same template without seeing the first team's objects.
func TestJourneys(t *testing.T) {
	t.Parallel()
	scenario(t)
	cs := framework.StartClusters(t, "provider", "team-a", "team-b")
	p := startProvider(t, cs[0])
	ctx := t.Context()

	t.Run("1: the platform operator offers a template and sees it Ready", func(t *testing.T) {
		// The example operator installed its CRD; the template turns
		// Ready once the backend sees it established.
		stack.ApplyTemplate(t, p.dyn, "examples/database/template.yaml")
	})
	if t.Failed() {
		return
	}

	a := startConsumer(t, cs[1])
	var aDB *unstructured.Unstructured
	t.Run("2: an app team binds in the browser and uses a database", func(t *testing.T) {
		out := a.bind(t, p, "alice", "postgres")
		assert.Contains(t, out, "Open this URL in a browser")
		assert.Contains(t, out, "binding(s) Ready")

		require.NoError(t, a.client.Get(ctx, client.ObjectKey{Name: binding}, &apiextensionsv1.CustomResourceDefinition{}), "the CRD appears")
		a.createDatabase(t, "orders", "small")
		aDB = a.waitReady(t, "orders")
		endpoint, _, _ := unstructured.NestedString(aDB.Object, "status", "endpoint")
		assert.Contains(t, endpoint, ".db.example.com:5432", "the operator's status comes back")

		pns := a.providerNamespace(t, p)
		framework.Eventually(t, func() (bool, string) {
			cp, err := p.dyn.Resource(databases).Namespace(pns).Get(ctx, "orders", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			size, _, _ := unstructured.NestedString(cp.Object, "spec", "size")
			return size == "small", "provider copy size " + size
		}, framework.WaitTimeout)

		conn := &corev1.Secret{}
		framework.Eventually(t, func() (bool, string) {
			err := a.client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "orders-conn"}, conn)
			return err == nil, fmt.Sprint(err)
		}, framework.WaitTimeout)
		assert.Equal(t, endpoint, string(conn.Data["endpoint"]), "the connection Secret comes back")

		_, err := a.dyn.Resource(databases).Namespace("default").Patch(ctx, "orders", types.MergePatchType,
			[]byte(`{"spec":{"size":"large"}}`), metav1.PatchOptions{})
		require.NoError(t, err)
		framework.Eventually(t, func() (bool, string) {
			cp, err := p.dyn.Resource(databases).Namespace(pns).Get(ctx, "orders", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			size, _, _ := unstructured.NestedString(cp.Object, "spec", "size")
			return size == "large", "provider copy size " + size
		}, framework.WaitTimeout)
	})
	if t.Failed() {
		return
	}

	b := startConsumer(t, cs[2])
	t.Run("3: a second team binds the same template and sees only its own objects", func(t *testing.T) {
		b.bind(t, p, "bob", "postgres")
		b.createDatabase(t, "orders", "medium")
		bDB := b.waitReady(t, "orders")
		pa, pb := a.providerNamespace(t, p), b.providerNamespace(t, p)
		assert.NotEqual(t, pa, pb, "each consumer has its own provider namespace")
		ea, _, _ := unstructured.NestedString(aDB.Object, "status", "endpoint")
		eb, _, _ := unstructured.NestedString(bDB.Object, "status", "endpoint")
		assert.NotEqual(t, ea, eb, "each team's database is its own")
		list, err := a.dyn.Resource(databases).List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		require.Len(t, list.Items, 1, "team A sees only its database")
		size, _, _ := unstructured.NestedString(list.Items[0].Object, "spec", "size")
		assert.Equal(t, "large", size, "team B's spec does not reach team A")

		for _, c := range []struct {
			name         string
			from, other  *consumer
			otherNS      string
			otherCluster string
		}{
			{"team A", a, b, pb, b.clusterNamespace(t)},
			{"team B", b, a, pa, a.clusterNamespace(t)},
		} {
			creds := c.from.providerClient(t)
			secrets := corev1.SchemeGroupVersion.WithResource("secrets")
			for _, try := range []struct {
				what string
				err  error
			}{
				{"get the other team's database", tryGet(creds.Resource(databases).Namespace(c.otherNS), "orders")},
				{"list the other team's databases", tryList(creds.Resource(databases).Namespace(c.otherNS))},
				{"list databases in every namespace", tryList(creds.Resource(databases))},
				{"get the other team's connection Secret", tryGet(creds.Resource(secrets).Namespace(c.otherNS), "orders-conn")},
				{"list the other team's exports", tryList(creds.Resource(exports).Namespace(c.otherCluster))},
				{"list the Secrets of the other team's cluster namespace", tryList(creds.Resource(secrets).Namespace(c.otherCluster))},
				{"list namespaces", tryList(creds.Resource(corev1.SchemeGroupVersion.WithResource("namespaces")))},
			} {
				assert.True(t, apierrors.IsForbidden(try.err), "%s: %s is denied, got %v", c.name, try.what, try.err)
			}
		}
	})
	if t.Failed() {
		return
	}

	t.Run("2: unbinding cleans up, and leaves the other team alone", func(t *testing.T) {
		pa := a.providerNamespace(t, p)
		out := a.run(t, "unbind", binding, "--yes")
		assert.Contains(t, out, binding)
		err := a.client.Get(ctx, client.ObjectKey{Name: binding}, &apiextensionsv1.CustomResourceDefinition{})
		assert.True(t, apierrors.IsNotFound(err), "the CRD is gone: %v", err)
		_, err = p.dyn.Resource(databases).Namespace(pa).Get(ctx, "orders", metav1.GetOptions{})
		assert.True(t, apierrors.IsNotFound(err), "the provider copy is gone: %v", err)
		framework.Eventually(t, func() (bool, string) {
			err := a.client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "orders-conn"}, &corev1.Secret{})
			return apierrors.IsNotFound(err), fmt.Sprintf("the connection Secret copy is removed: %v", err)
		}, framework.WaitTimeout)
		_, err = p.dyn.Resource(databases).Namespace(b.providerNamespace(t, p)).Get(ctx, "orders", metav1.GetOptions{})
		assert.NoError(t, err, "team B's database stays")
		assert.Equal(t, "True", b.bindingReady(t), "team B's binding stays Ready")
	})
}

func tryGet(r dynamic.ResourceInterface, name string) error {
	_, err := r.Get(context.Background(), name, metav1.GetOptions{})
	return err
}

func tryList(r dynamic.ResourceInterface) error {
	_, err := r.List(context.Background(), metav1.ListOptions{})
	return err
}

// createDatabase creates a database whose connection Secret is
// <name>-conn, in namespace default.
func (k *consumer) createDatabase(t *testing.T, name, size string) {
	t.Helper()
	k.createDatabaseIn(t, "default", name, size)
}

// createDatabaseIn creates a database in namespace ns.
func (k *consumer) createDatabaseIn(t *testing.T, ns, name, size string) {
	t.Helper()
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "db.example.com/v1", "kind": "Database",
		"metadata": map[string]any{"namespace": ns, "name": name},
		"spec":     map[string]any{"size": size, "writeConnectionSecretToRef": map[string]any{"name": name + "-conn"}},
	}}
	// The API server may take a moment to serve a CRD it just created.
	framework.Eventually(t, func() (bool, string) {
		_, err := k.dyn.Resource(databases).Namespace(ns).Create(t.Context(), obj, metav1.CreateOptions{})
		return err == nil, fmt.Sprint(err)
	}, framework.WaitTimeout)
}

// waitReady waits until the provider's status, Ready, reaches the
// consumer's database.
func (k *consumer) waitReady(t *testing.T, name string) *unstructured.Unstructured {
	t.Helper()
	return k.waitReadyIn(t, "default", name)
}

// waitReadyIn waits until the provider's status, Ready, reaches the
// consumer's database in namespace ns.
func (k *consumer) waitReadyIn(t *testing.T, ns, name string) *unstructured.Unstructured {
	t.Helper()
	var db *unstructured.Unstructured
	framework.Eventually(t, func() (bool, string) {
		var err error
		db, err = k.dyn.Resource(databases).Namespace(ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		phase, _, _ := unstructured.NestedString(db.Object, "status", "phase")
		return phase == "Ready", "phase " + phase
	}, 2*time.Minute)
	return db
}

// bindingReady returns the status of the binding's Ready condition.
func (k *consumer) bindingReady(t *testing.T) string {
	t.Helper()
	b, err := k.dyn.Resource(bindings).Get(t.Context(), binding, metav1.GetOptions{})
	require.NoError(t, err)
	s, _ := stack.Condition(b, "Ready")["status"].(string)
	return s
}
