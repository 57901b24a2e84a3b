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
		// The queue of cmd/example-operator; without the name check, which
		// would refuse a second run in one process (go test -count).
		Controller: config.Controller{UsePriorityQueue: ptr.To(false), SkipNameValidation: ptr.To(true)}})
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
	// phasesUntil polls the database until done, and returns the phases it
	// saw on the way, each once, in order. Provisioning and Deleting last
	// Delay (1 s); under a full test run the operator's first reconcile
	// can come later than that, so a poll may see neither: what is checked
	// is the order of what it saw.
	phasesUntil := func(done func(phase string, err error) bool) []string {
		var seen []string
		framework.Eventually(t, func() (bool, string) {
			got := &unstructured.Unstructured{}
			got.SetGroupVersionKind(exampleoperator.GVK)
			err := p.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "orders"}, got)
			ph, _, _ := unstructured.NestedString(got.Object, "status", "phase")
			if err == nil && ph != "" && (len(seen) == 0 || seen[len(seen)-1] != ph) {
				seen = append(seen, ph)
			}
			return done(ph, err), fmt.Sprint(seen, err)
		}, framework.WaitTimeout)
		return seen
	}
	seen := phasesUntil(func(ph string, err error) bool { return err == nil && ph == "Ready" })
	assert.Contains(t, [][]string{{"Provisioning", "Ready"}, {"Ready"}}, seen, "phases before Ready")
	s := &corev1.Secret{}
	require.NoError(t, p.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "orders-conn"}, s))
	assert.Equal(t, "orders.default.db.example.com:5432", string(s.Data["endpoint"]))

	require.NoError(t, p.Client.Delete(ctx, db))
	seen = phasesUntil(func(_ string, err error) bool { return apierrors.IsNotFound(err) })
	assert.Contains(t, [][]string{nil, {"Ready"}, {"Deleting"}, {"Ready", "Deleting"}}, seen, "phases before the database is gone")
}
