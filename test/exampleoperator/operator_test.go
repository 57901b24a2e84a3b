package exampleoperator_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/bindery-dev/bindery/test/exampleoperator"
	"github.com/bindery-dev/bindery/test/framework"
)

func TestMain(m *testing.M) { framework.Main(m) }

func TestOperatorProvisionsAndDeletes(t *testing.T) {
	t.Parallel()
	p := framework.StartCluster(t, "provider")
	ctx := t.Context()
	crd, err := exampleoperator.CRD()
	require.NoError(t, err)
	require.NoError(t, p.Client.Create(ctx, crd))
	framework.Eventually(t, func() (bool, string) {
		// controller-runtime's mapper looks the kind up again on a miss.
		_, err := p.Client.RESTMapper().RESTMapping(exampleoperator.GVK.GroupKind(), "v1")
		return err == nil, fmt.Sprint(err)
	}, framework.WaitTimeout)

	mgr, err := ctrl.NewManager(p.Config, ctrl.Options{Scheme: p.Client.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{UsePriorityQueue: ptr.To(false)}}) // as cmd/example-operator
	require.NoError(t, err)
	require.NoError(t, (&exampleoperator.Reconciler{Client: mgr.GetClient(), Delay: time.Second}).SetupWithManager(mgr))
	mctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.Start(mctx) }()
	t.Cleanup(func() { cancel(); <-done })

	db := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "db.example.com/v1", "kind": "Database",
		"metadata": map[string]any{"namespace": "default", "name": "orders"},
		"spec":     map[string]any{"writeConnectionSecretToRef": map[string]any{"name": "orders-conn"}},
	}}
	require.NoError(t, p.Client.Create(ctx, db))
	phase := func() string {
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(exampleoperator.GVK)
		if err := p.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "orders"}, got); err != nil {
			return err.Error()
		}
		ph, _, _ := unstructured.NestedString(got.Object, "status", "phase")
		return ph
	}
	// Provisioning lasts Delay from the create; under a full test run the
	// first reconcile can come later than that, and the database goes
	// straight to Ready.
	framework.Eventually(t, func() (bool, string) {
		ph := phase()
		return ph == "Provisioning" || ph == "Ready", ph
	}, framework.WaitTimeout)
	framework.Eventually(t, func() (bool, string) { return phase() == "Ready", phase() }, framework.WaitTimeout)
	s := &corev1.Secret{}
	require.NoError(t, p.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "orders-conn"}, s))
	assert.Equal(t, "orders.default.db.example.com:5432", string(s.Data["endpoint"]))

	require.NoError(t, p.Client.Delete(ctx, db))
	// Likewise Deleting lasts Delay from the delete, and the database
	// may be gone before a poll sees it.
	framework.Eventually(t, func() (bool, string) {
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(exampleoperator.GVK)
		err := p.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "orders"}, got)
		ph, _, _ := unstructured.NestedString(got.Object, "status", "phase")
		return ph == "Deleting" || apierrors.IsNotFound(err), fmt.Sprint(ph, err)
	}, framework.WaitTimeout)
	framework.Eventually(t, func() (bool, string) {
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(exampleoperator.GVK)
		err := p.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "orders"}, got)
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	}, framework.WaitTimeout)
}
