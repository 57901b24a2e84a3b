package binding_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindery-dev/bindery/konnector/internal/objectsync"
	"github.com/bindery-dev/bindery/test/framework"
)

// TestBindUnbindDoesNotLeak binds and unbinds 50 times, syncing an object
// in some rounds, and checks that syncers, informers and goroutines go back to
// where they were. It is not parallel, so that other tests' goroutines do
// not blur the count.
func TestBindUnbindDoesNotLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("50 bind/unbind rounds")
	}
	e := newEnv(t)
	ctx := t.Context()
	pns := clusterNS + "-default"
	waitUnbound := func() {
		framework.Eventually(t, func() (bool, string) {
			err := e.cc.Get(ctx, client.ObjectKey{Name: e.binding.Name}, &kubebindv1alpha1.APIServiceBinding{})
			if !apierrors.IsNotFound(err) {
				return false, "binding still there"
			}
			err = e.cc.Get(ctx, client.ObjectKey{Name: e.binding.Name}, &apiextensionsv1.CustomResourceDefinition{})
			return apierrors.IsNotFound(err), "CRD still there"
		}, framework.WaitTimeout)
	}
	round := func(i int) {
		if i > 0 {
			b := e.binding.DeepCopy()
			b.ObjectMeta = metav1.ObjectMeta{Name: e.binding.Name}
			require.NoError(t, e.cc.Create(ctx, b))
		}
		waitCondition(t, e.cc, e.binding.Name, "Ready", corev1.ConditionTrue, "")
		// The API server holds the first create of a fresh CRD for 2s,
		// so only some rounds sync an object.
		if i%10 != 0 {
			require.NoError(t, e.cc.Delete(ctx, &kubebindv1alpha1.APIServiceBinding{ObjectMeta: metav1.ObjectMeta{Name: e.binding.Name}}))
			waitUnbound()
			return
		}
		name := fmt.Sprintf("round-%d", i)
		o := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "db.example.com/v1", "kind": "Database",
			"metadata": map[string]any{"namespace": "default", "name": name},
			"spec":     map[string]any{"size": "small"},
		}}
		framework.Eventually(t, func() (bool, string) {
			_, err := e.consumerDyn.Resource(databases).Namespace("default").Create(ctx, o, metav1.CreateOptions{})
			return err == nil, fmt.Sprint(err)
		}, framework.WaitTimeout)
		framework.Eventually(t, func() (bool, string) {
			_, err := e.providerDyn.Resource(databases).Namespace(pns).Get(ctx, name, metav1.GetOptions{})
			return err == nil, fmt.Sprint(err)
		}, framework.WaitTimeout)
		require.NoError(t, e.cc.Delete(ctx, &kubebindv1alpha1.APIServiceBinding{ObjectMeta: metav1.ObjectMeta{Name: e.binding.Name}}))
		waitUnbound()
		_, err := e.providerDyn.Resource(databases).Namespace(pns).Get(ctx, name, metav1.GetOptions{})
		require.True(t, apierrors.IsNotFound(err), "round %d: the provider copy is deleted: %v", i, err)
	}
	settled := func() (syncers int, informers int64, goroutines int) {
		framework.Eventually(t, func() (bool, string) {
			return e.r.Running() == 0 && objectsync.ActiveInformers() == 0,
				fmt.Sprintf("%d syncers, %d informers", e.r.Running(), objectsync.ActiveInformers())
		}, framework.WaitTimeout)
		// Goroutines of stopped watches end a moment after.
		time.Sleep(500 * time.Millisecond)
		return e.r.Running(), objectsync.ActiveInformers(), runtime.NumGoroutine()
	}

	for i := range 5 {
		round(i)
	}
	_, _, base := settled()
	for i := 5; i < 50; i++ {
		round(i)
	}
	var after int
	framework.Eventually(t, func() (bool, string) {
		_, _, after = settled()
		// A few goroutines come and go with HTTP/2 connections and
		// timers; a leak grows with every round.
		return after <= base+10, fmt.Sprintf("goroutines: %d after 5 rounds, %d after 50", base, after)
	}, 30*time.Second)
	t.Logf("goroutines: %d after 5 rounds, %d after 50", base, after)
}
