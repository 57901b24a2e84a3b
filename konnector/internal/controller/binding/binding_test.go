package binding_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	conditionsapi "github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/apis/conditions/v1alpha1"
	"github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/util/conditions"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/bindery-dev/bindery/apis/controllerqueue"
	"github.com/bindery-dev/bindery/apis/crdsnapshot"
	"github.com/bindery-dev/bindery/konnector/internal/controller/binding"
	"github.com/bindery-dev/bindery/konnector/internal/dynamicclient"
	"github.com/bindery-dev/bindery/konnector/internal/objectsync"
	"github.com/bindery-dev/bindery/konnector/internal/provider"
	"github.com/bindery-dev/bindery/konnector/internal/scheme"
	"github.com/bindery-dev/bindery/test/framework"
)

func TestMain(m *testing.M) { framework.Main(m) }

// env is a provider and a consumer cluster with a konnector running and
// one binding of databases.db.example.com created.
type env struct {
	prov, cons               *framework.Cluster
	pc, cc                   client.Client
	providerDyn, consumerDyn dynamic.Interface
	r                        *binding.Reconciler
	binding                  *kubebindv1alpha1.APIServiceBinding
}

func newEnv(t *testing.T, mutate ...func(*kubebindv1alpha1.APIServiceExport)) *env {
	t.Helper()
	cs := framework.StartClusters(t, "provider", "consumer")
	e := &env{prov: cs[0], cons: cs[1]}
	framework.ProviderSide(t, e.prov, mutate...)
	framework.ConsumerSide(t, e.cons, e.prov)
	ctx := t.Context()
	e.cc = e.cons.Client
	e.pc = e.prov.Client
	e.r = runKonnector(t, e.cons)
	var err error
	e.consumerDyn, err = dynamic.NewForConfig(e.cons.Config)
	require.NoError(t, err)
	e.providerDyn, err = dynamic.NewForConfig(e.prov.Config)
	require.NoError(t, err)
	e.binding = framework.Binding()
	require.NoError(t, e.cc.Create(ctx, e.binding))
	return e
}

// setCopyStatus sets status.<field> of the provider copy name in
// namespace pns, as the provider's operator would, retrying on conflicts
// with the konnector's writes.
func (e *env) setCopyStatus(t *testing.T, pns, name, field, value string) {
	t.Helper()
	rc := e.providerDyn.Resource(databases).Namespace(pns)
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		c, err := rc.Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if err := unstructured.SetNestedField(c.Object, value, "status", field); err != nil {
			return err
		}
		_, err = rc.UpdateStatus(t.Context(), c, metav1.UpdateOptions{})
		return err
	}))
}

func TestBindingSyncsBothWays(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	cc, pc, r, b := e.cc, e.pc, e.r, e.binding
	consumerDyn, providerDyn := e.consumerDyn, e.providerDyn

	t.Run("the binding installs the CRD, owned by it, and turns Ready", func(t *testing.T) {
		waitCondition(t, cc, b.Name, "Ready", corev1.ConditionTrue, "")
		crd := &apiextensionsv1.CustomResourceDefinition{}
		require.NoError(t, cc.Get(ctx, client.ObjectKey{Name: b.Name}, crd))
		require.NoError(t, cc.Get(ctx, client.ObjectKey{Name: b.Name}, b))
		assert.True(t, metav1.IsControlledBy(crd, b))
		assert.Equal(t, "Test Provider", b.Status.ProviderPrettyName)
		assert.Equal(t, 1, r.Running())
		cb := &kubebindv1alpha1.ClusterBinding{}
		require.NoError(t, pc.Get(ctx, client.ObjectKey{Namespace: clusterNS, Name: "cluster"}, cb))
		assert.False(t, cb.Status.LastHeartbeatTime.IsZero(), "heartbeat")
		assert.NotEmpty(t, cb.Status.KonnectorVersion)
	})

	t.Run("kubectl get apiservicebindings shows provider, readiness and message", func(t *testing.T) {
		raw, err := e.cons.Kube.Discovery().RESTClient().Get().AbsPath("/apis/kube-bind.io/v1alpha1/apiservicebindings").
			SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").Do(ctx).Raw()
		require.NoError(t, err)
		table := &metav1.Table{}
		require.NoError(t, json.Unmarshal(raw, table))
		require.Len(t, table.Rows, 1)
		var columns []string
		cells := map[string]any{}
		for i, c := range table.ColumnDefinitions {
			if c.Priority == 0 {
				columns = append(columns, c.Name)
			}
			cells[c.Name] = table.Rows[0].Cells[i]
		}
		assert.Equal(t, []string{"Name", "Provider", "Ready", "Message", "Age"}, columns)
		assert.Equal(t, b.Name, cells["Name"])
		assert.Equal(t, "Test Provider", cells["Provider"])
		assert.Equal(t, "True", cells["Ready"])
	})

	pns := clusterNS + "-default"
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "db.example.com/v1", "kind": "Database",
		"metadata": map[string]any{"namespace": "default", "name": "orders",
			"labels":      map[string]any{"team": "shop", "kubernetes.io/system": "x"},
			"annotations": map[string]any{"note": "hello"}},
		"spec": map[string]any{"size": "small"},
	}}
	t.Run("spec goes down with origin labels and annotations", func(t *testing.T) {
		created, err := consumerDyn.Resource(databases).Namespace("default").Create(ctx, obj, metav1.CreateOptions{})
		require.NoError(t, err)
		var copyObj *unstructured.Unstructured
		framework.Eventually(t, func() (bool, string) {
			copyObj, err = providerDyn.Resource(databases).Namespace(pns).Get(ctx, "orders", metav1.GetOptions{})
			return err == nil, fmt.Sprint(err)
		}, framework.WaitTimeout)
		size, _, _ := unstructured.NestedString(copyObj.Object, "spec", "size")
		assert.Equal(t, "small", size)
		assert.Equal(t, "shop", copyObj.GetLabels()["team"])
		assert.NotContains(t, copyObj.GetLabels(), "kubernetes.io/system", "system labels stay home")
		assert.Equal(t, objectsync.ManagedByValue, copyObj.GetLabels()[objectsync.ManagedByLabel])
		assert.Equal(t, "hello", copyObj.GetAnnotations()["note"])
		assert.Equal(t, "default/"+created.GetName()+"/"+string(created.GetUID()), copyObj.GetAnnotations()[objectsync.OriginAnnotation])
		assert.NotContains(t, copyObj.GetAnnotations(), objectsync.AppliedHashAnnotation, "the konnector's bookkeeping stays in its cache")
		framework.Eventually(t, func() (bool, string) {
			n := testutil.ToFloat64(objectsync.SyncedObjects.WithLabelValues(b.Name))
			return n >= 1, fmt.Sprintf("bindery_konnector_synced_objects = %v", n)
		}, framework.WaitTimeout)
		assert.Positive(t, histogramCount(t, "bindery_konnector_sync_latency_seconds", "down"), "the sync latency is measured")
		writes := e.prov.Requests(t)
		assert.Equal(t, 1.0, writes[framework.RequestKind{Verb: "POST", Resource: "databases"}], "the copy is created")
		assert.Zero(t, writes[framework.RequestKind{Verb: "APPLY", Resource: "databases"}]+writes[framework.RequestKind{Verb: "PATCH", Resource: "databases"}],
			"a new copy is written once")
		assert.Positive(t, labelledHistogramCount(t, "bindery_konnector_api_request_duration_seconds", "cluster", "provider"), "provider round trips are measured")
	})

	t.Run("status comes up, and provider-owned fields are kept", func(t *testing.T) {
		copyObj, err := providerDyn.Resource(databases).Namespace(pns).Get(ctx, "orders", metav1.GetOptions{})
		require.NoError(t, err)
		require.NoError(t, unstructured.SetNestedField(copyObj.Object, "Ready", "status", "phase"))
		_, err = providerDyn.Resource(databases).Namespace(pns).UpdateStatus(ctx, copyObj, metav1.UpdateOptions{})
		require.NoError(t, err)
		// A provider controller sets a spec field and a label the
		// consumer does not.
		patch := []byte(`{"metadata":{"labels":{"provider.example.com/tier":"gold"}},"spec":{"endpoint":"db.internal:5432"}}`)
		_, err = providerDyn.Resource(databases).Namespace(pns).Patch(ctx, "orders", "application/merge-patch+json", patch, metav1.PatchOptions{FieldManager: "provider-controller"})
		require.NoError(t, err)
		framework.Eventually(t, func() (bool, string) {
			got, err := consumerDyn.Resource(databases).Namespace("default").Get(ctx, "orders", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			phase, _, _ := unstructured.NestedString(got.Object, "status", "phase")
			return phase == "Ready" && got.GetAnnotations()[objectsync.SyncedGenerationAnnotation] == fmt.Sprint(got.GetGeneration()), "phase " + phase
		}, framework.WaitTimeout)
		// A status write the konnector makes before its provider watch
		// delivered the change has no start time and is not sampled, so
		// the provider changes the status until one is.
		for i := 0; histogramCount(t, "bindery_konnector_sync_latency_seconds", "up") == 0; i++ {
			require.Less(t, i, 20, "the status latency is measured")
			e.setCopyStatus(t, pns, "orders", "check", fmt.Sprint("check-", i))
			time.Sleep(500 * time.Millisecond)
		}
		// The copy has all the konnector writes, beside the provider's own
		// spec field: a status change comes up without a write of the copy.
		applies := func() float64 {
			return e.prov.Requests(t)[framework.RequestKind{Verb: "APPLY", Resource: "databases"}]
		}
		before := applies()
		e.setCopyStatus(t, pns, "orders", "check", "final")
		framework.Eventually(t, func() (bool, string) {
			got, err := consumerDyn.Resource(databases).Namespace("default").Get(ctx, "orders", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			check, _, _ := unstructured.NestedString(got.Object, "status", "check")
			return check == "final", "status.check " + check
		}, framework.WaitTimeout)
		assert.Equal(t, before, applies(), "applies of the copy while its status changed")
		// A consumer change goes down without removing the provider's field.
		got, err := consumerDyn.Resource(databases).Namespace("default").Get(ctx, "orders", metav1.GetOptions{})
		require.NoError(t, err)
		require.NoError(t, unstructured.SetNestedField(got.Object, "large", "spec", "size"))
		_, err = consumerDyn.Resource(databases).Namespace("default").Update(ctx, got, metav1.UpdateOptions{})
		require.NoError(t, err)
		framework.Eventually(t, func() (bool, string) {
			c, err := providerDyn.Resource(databases).Namespace(pns).Get(ctx, "orders", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			size, _, _ := unstructured.NestedString(c.Object, "spec", "size")
			endpoint, _, _ := unstructured.NestedString(c.Object, "spec", "endpoint")
			tier := c.GetLabels()["provider.example.com/tier"]
			return size == "large" && endpoint == "db.internal:5432" && tier == "gold", fmt.Sprintf("size %q endpoint %q tier %q", size, endpoint, tier)
		}, framework.WaitTimeout)
	})

	t.Run("a copy an earlier konnector wrote gets the origin annotation and loses its old ones", func(t *testing.T) {
		got, err := consumerDyn.Resource(databases).Namespace("default").Get(ctx, "orders", metav1.GetOptions{})
		require.NoError(t, err)
		c, err := providerDyn.Resource(databases).Namespace(pns).Get(ctx, "orders", metav1.GetOptions{})
		require.NoError(t, err)
		labels := c.GetLabels()
		delete(labels, "provider.example.com/tier")
		// What konnectors before the origin annotation applied: the origin
		// in three annotations, and the hash of what they wrote.
		earlier := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "db.example.com/v1", "kind": "Database",
			"metadata": map[string]any{"namespace": pns, "name": "orders", "labels": labels,
				"annotations": map[string]any{"note": "hello", "bindery.dev/origin-namespace": "default",
					"bindery.dev/origin-name": "orders", "bindery.dev/origin-uid": string(got.GetUID()),
					objectsync.AppliedHashAnnotation: "0123456789abcdef01234567"}},
			"spec": got.Object["spec"],
		}}
		_, err = providerDyn.Resource(databases).Namespace(pns).Apply(ctx, "orders", earlier, metav1.ApplyOptions{FieldManager: objectsync.FieldManager, Force: true})
		require.NoError(t, err)
		framework.Eventually(t, func() (bool, string) {
			c, err := providerDyn.Resource(databases).Namespace(pns).Get(ctx, "orders", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			a := c.GetAnnotations()
			want := map[string]string{"note": "hello", objectsync.OriginAnnotation: "default/orders/" + string(got.GetUID())}
			return maps.Equal(a, want) && c.GetLabels()["provider.example.com/tier"] == "gold", fmt.Sprintf("annotations %v", a)
		}, framework.WaitTimeout)
	})

	t.Run("items a provider adds to a list of the consumer's cost no write", func(t *testing.T) {
		// The provider's schema makes spec.ports a list keyed by name, so
		// that two managers can each own items of it.
		yes := true
		providerCRD := &apiextensionsv1.CustomResourceDefinition{}
		require.NoError(t, pc.Get(ctx, client.ObjectKey{Name: framework.BindingName}, providerCRD))
		providerCRD.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"] = apiextensionsv1.JSONSchemaProps{
			Type: "object", XPreserveUnknownFields: &yes,
			Properties: map[string]apiextensionsv1.JSONSchemaProps{"ports": {
				Type: "array", XListType: ptr.To("map"), XListMapKeys: []string{"name"},
				Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", Required: []string{"name"},
					Properties: map[string]apiextensionsv1.JSONSchemaProps{"name": {Type: "string"}, "port": {Type: "integer"}},
				}},
			}},
		}
		require.NoError(t, pc.Update(ctx, providerCRD))
		ledger := func(manager string, ports ...any) *unstructured.Unstructured {
			return &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "db.example.com/v1", "kind": "Database",
				"metadata": map[string]any{"namespace": pns, "name": "ledger-" + manager},
				"spec":     map[string]any{"ports": ports},
			}}
		}
		// Until the API server serves the new schema, items are not keyed.
		framework.Eventually(t, func() (bool, string) {
			probe, err := providerDyn.Resource(databases).Namespace(pns).Apply(ctx, "ledger-probe", ledger("probe", map[string]any{"name": "sql"}),
				metav1.ApplyOptions{FieldManager: "probe", DryRun: []string{metav1.DryRunAll}})
			if err != nil {
				return false, err.Error()
			}
			fields, _ := json.Marshal(probe.GetManagedFields())
			return strings.Contains(string(fields), `k:{\"name\":\"sql\"}`), string(fields)
		}, framework.WaitTimeout)

		_, err := consumerDyn.Resource(databases).Namespace("default").Create(ctx, &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "db.example.com/v1", "kind": "Database",
			"metadata": map[string]any{"namespace": "default", "name": "ledger"},
			"spec":     map[string]any{"ports": []any{map[string]any{"name": "sql", "port": int64(5432)}}},
		}}, metav1.CreateOptions{})
		require.NoError(t, err)
		status := func(phase string) {
			t.Helper()
			e.setCopyStatus(t, pns, "ledger", "phase", phase)
			framework.Eventually(t, func() (bool, string) {
				got, err := consumerDyn.Resource(databases).Namespace("default").Get(ctx, "ledger", metav1.GetOptions{})
				if err != nil {
					return false, err.Error()
				}
				p, _, _ := unstructured.NestedString(got.Object, "status", "phase")
				marked := got.GetAnnotations()[objectsync.SyncedGenerationAnnotation] == fmt.Sprint(got.GetGeneration())
				return p == phase && marked, fmt.Sprintf("phase %q, marked %v", p, marked)
			}, framework.WaitTimeout)
		}
		framework.Eventually(t, func() (bool, string) {
			_, err := providerDyn.Resource(databases).Namespace(pns).Get(ctx, "ledger", metav1.GetOptions{})
			return err == nil, fmt.Sprint(err)
		}, framework.WaitTimeout)
		status("Creating")
		// A provider controller adds a port of its own beside the consumer's.
		added := ledger("controller", map[string]any{"name": "metrics", "port": int64(9187)})
		added.SetName("ledger")
		_, err = providerDyn.Resource(databases).Namespace(pns).Apply(ctx, "ledger", added, metav1.ApplyOptions{FieldManager: "provider-controller"})
		require.NoError(t, err)
		status("Synced")
		applies := func() float64 {
			return e.prov.Requests(t)[framework.RequestKind{Verb: "APPLY", Resource: "databases"}]
		}
		before := applies()
		status("Ready")
		assert.Equal(t, before, applies(), "applies of the copy while its status changed")
		c, err := providerDyn.Resource(databases).Namespace(pns).Get(ctx, "ledger", metav1.GetOptions{})
		require.NoError(t, err)
		ports, _, _ := unstructured.NestedSlice(c.Object, "spec", "ports")
		assert.Len(t, ports, 2, "the consumer's port and the provider's: %v", ports)
		require.NoError(t, consumerDyn.Resource(databases).Namespace("default").Delete(ctx, "ledger", metav1.DeleteOptions{}))
	})

	t.Run("a field removed right after the copy is created is removed on the provider", func(t *testing.T) {
		// The first copy is created, not applied; the first apply after
		// it must still own, and so remove, what the create wrote.
		obj := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "db.example.com/v1", "kind": "Database",
			"metadata": map[string]any{"namespace": "default", "name": "inventory", "labels": map[string]any{"team": "shop"}},
			"spec":     map[string]any{"size": "small", "tier": "gold"},
		}}
		_, err := consumerDyn.Resource(databases).Namespace("default").Create(ctx, obj, metav1.CreateOptions{})
		require.NoError(t, err)
		framework.Eventually(t, func() (bool, string) {
			_, err := providerDyn.Resource(databases).Namespace(pns).Get(ctx, "inventory", metav1.GetOptions{})
			return err == nil, fmt.Sprint(err)
		}, framework.WaitTimeout)
		require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
			got, err := consumerDyn.Resource(databases).Namespace("default").Get(ctx, "inventory", metav1.GetOptions{})
			if err != nil {
				return err
			}
			unstructured.RemoveNestedField(got.Object, "spec", "tier")
			got.SetLabels(nil)
			_, err = consumerDyn.Resource(databases).Namespace("default").Update(ctx, got, metav1.UpdateOptions{})
			return err
		}))
		framework.Eventually(t, func() (bool, string) {
			c, err := providerDyn.Resource(databases).Namespace(pns).Get(ctx, "inventory", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			_, hasTier, _ := unstructured.NestedString(c.Object, "spec", "tier")
			size, _, _ := unstructured.NestedString(c.Object, "spec", "size")
			_, hasLabel := c.GetLabels()["team"]
			return !hasTier && !hasLabel && size == "small", fmt.Sprintf("tier kept %v, label kept %v, size %q", hasTier, hasLabel, size)
		}, framework.WaitTimeout)
		require.NoError(t, consumerDyn.Resource(databases).Namespace("default").Delete(ctx, "inventory", metav1.DeleteOptions{}))
	})

	t.Run("a provider copy deleted out of band is recreated", func(t *testing.T) {
		require.NoError(t, providerDyn.Resource(databases).Namespace(pns).Delete(ctx, "orders", metav1.DeleteOptions{}))
		framework.Eventually(t, func() (bool, string) {
			c, err := providerDyn.Resource(databases).Namespace(pns).Get(ctx, "orders", metav1.GetOptions{})
			return err == nil && c.GetDeletionTimestamp() == nil, fmt.Sprint(err)
		}, framework.WaitTimeout)
	})

	t.Run("a copy the provider's quota refuses waits, with the reason, and goes down once there is room", func(t *testing.T) {
		// A quota that counts databases needs kube-controller-manager to
		// count them first, or it refuses every create.
		e.prov.WaitQuotaCounts(t, "databases.db.example.com")
		quota := &corev1.ResourceQuota{
			ObjectMeta: metav1.ObjectMeta{Namespace: pns, Name: "databases"},
			Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"count/databases.db.example.com": resource.MustParse("1")}},
		}
		require.NoError(t, pc.Create(ctx, quota))
		framework.Eventually(t, func() (bool, string) {
			if err := pc.Get(ctx, client.ObjectKeyFromObject(quota), quota); err != nil {
				return false, err.Error()
			}
			used := quota.Status.Used["count/databases.db.example.com"]
			return used.Value() == 1, fmt.Sprintf("used %v", quota.Status.Used)
		}, framework.WaitTimeout)

		over := obj.DeepCopy()
		over.SetName("over-quota")
		_, err := consumerDyn.Resource(databases).Namespace("default").Create(ctx, over, metav1.CreateOptions{})
		require.NoError(t, err)
		ev := waitEvent(t, cc, "default", "over-quota", "SyncFailed")
		assert.Contains(t, ev.Note, "exceeded quota", "the user reads why")
		_, err = providerDyn.Resource(databases).Namespace(pns).Get(ctx, "over-quota", metav1.GetOptions{})
		assert.True(t, apierrors.IsNotFound(err), "no copy while over the quota: %v", err)

		require.NoError(t, pc.Delete(ctx, quota))
		framework.Eventually(t, func() (bool, string) {
			_, err := providerDyn.Resource(databases).Namespace(pns).Get(ctx, "over-quota", metav1.GetOptions{})
			return err == nil, fmt.Sprint(err)
		}, framework.WaitTimeout)
		require.NoError(t, consumerDyn.Resource(databases).Namespace("default").Delete(ctx, "over-quota", metav1.DeleteOptions{}))
		framework.Eventually(t, func() (bool, string) {
			_, err := consumerDyn.Resource(databases).Namespace("default").Get(ctx, "over-quota", metav1.GetOptions{})
			return apierrors.IsNotFound(err), fmt.Sprint(err)
		}, framework.WaitTimeout)
	})

	t.Run("deleting waits for provider-side finalizers", func(t *testing.T) {
		c, err := providerDyn.Resource(databases).Namespace(pns).Get(ctx, "orders", metav1.GetOptions{})
		require.NoError(t, err)
		c.SetFinalizers([]string{"example.com/cloud-resource"})
		_, err = providerDyn.Resource(databases).Namespace(pns).Update(ctx, c, metav1.UpdateOptions{})
		require.NoError(t, err)
		require.NoError(t, consumerDyn.Resource(databases).Namespace("default").Delete(ctx, "orders", metav1.DeleteOptions{}))
		framework.Eventually(t, func() (bool, string) {
			c, err := providerDyn.Resource(databases).Namespace(pns).Get(ctx, "orders", metav1.GetOptions{})
			return err == nil && c.GetDeletionTimestamp() != nil, "provider copy not being deleted yet"
		}, framework.WaitTimeout)
		// The konnector reports the copy it saw held, in the sync that
		// keeps the consumer object.
		waitEvent(t, cc, "default", "orders", "DeletingOnProvider")
		_, err = consumerDyn.Resource(databases).Namespace("default").Get(ctx, "orders", metav1.GetOptions{})
		require.NoError(t, err, "the consumer object stays while the provider finalizer holds")
		c, err = providerDyn.Resource(databases).Namespace(pns).Get(ctx, "orders", metav1.GetOptions{})
		require.NoError(t, err)
		c.SetFinalizers(nil)
		_, err = providerDyn.Resource(databases).Namespace(pns).Update(ctx, c, metav1.UpdateOptions{})
		require.NoError(t, err)
		framework.Eventually(t, func() (bool, string) {
			_, err := consumerDyn.Resource(databases).Namespace("default").Get(ctx, "orders", metav1.GetOptions{})
			return apierrors.IsNotFound(err), fmt.Sprint(err)
		}, framework.WaitTimeout)
	})

	t.Run("an orphaned object keeps its provider copy", func(t *testing.T) {
		o := obj.DeepCopy()
		o.SetName("kept")
		o.SetAnnotations(map[string]string{objectsync.OrphanAnnotation: "true"})
		_, err := consumerDyn.Resource(databases).Namespace("default").Create(ctx, o, metav1.CreateOptions{})
		require.NoError(t, err)
		framework.Eventually(t, func() (bool, string) {
			_, err := providerDyn.Resource(databases).Namespace(pns).Get(ctx, "kept", metav1.GetOptions{})
			return err == nil, fmt.Sprint(err)
		}, framework.WaitTimeout)
		require.NoError(t, consumerDyn.Resource(databases).Namespace("default").Delete(ctx, "kept", metav1.DeleteOptions{}))
		framework.Eventually(t, func() (bool, string) {
			_, err := consumerDyn.Resource(databases).Namespace("default").Get(ctx, "kept", metav1.GetOptions{})
			return apierrors.IsNotFound(err), fmt.Sprint(err)
		}, framework.WaitTimeout)
		// Deleted this soon, the object may go before the konnector adds
		// its finalizer; its copy is then released a moment later.
		framework.Eventually(t, func() (bool, string) {
			kept, err := providerDyn.Resource(databases).Namespace(pns).Get(ctx, "kept", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			_, managed := kept.GetLabels()[objectsync.ManagedByLabel]
			return !managed, "still managed"
		}, framework.WaitTimeout)

	})

	t.Run("a foreign CRD is never touched", func(t *testing.T) {
		foreign := databaseCRD()
		foreign.Name = "caches.db.example.com"
		foreign.Spec.Names = apiextensionsv1.CustomResourceDefinitionNames{Plural: "caches", Singular: "cache", Kind: "Cache", ListKind: "CacheList"}
		require.NoError(t, cc.Create(ctx, foreign.DeepCopy()))
		exp := databaseCRD()
		exp.Name = foreign.Name
		exp.Spec.Names = foreign.Spec.Names
		exp.Spec.Versions[0].Name = "v2" // what the provider would offer
		snap, err := crdsnapshot.FromCRD(exp, nil)
		require.NoError(t, err)
		export := &kubebindv1alpha1.APIServiceExport{ObjectMeta: metav1.ObjectMeta{Namespace: clusterNS, Name: foreign.Name}}
		export.Spec.APIServiceExportCRDSpec = *snap
		export.Spec.InformerScope = kubebindv1alpha1.NamespacedScope
		require.NoError(t, pc.Create(ctx, export))
		fb := b.DeepCopy()
		fb.ObjectMeta = metav1.ObjectMeta{Name: foreign.Name}
		require.NoError(t, cc.Create(ctx, fb))
		cond := waitCondition(t, cc, fb.Name, "SchemaInSync", corev1.ConditionFalse, binding.ReasonForeignCRD)
		assert.Contains(t, cond, "is not managed by a binding")
		got := &apiextensionsv1.CustomResourceDefinition{}
		require.NoError(t, cc.Get(ctx, client.ObjectKey{Name: foreign.Name}, got))
		assert.Equal(t, "v1", got.Spec.Versions[0].Name, "unchanged")
	})

	t.Run("unbinding deletes provider copies first, then the CRD, and stops the syncer", func(t *testing.T) {
		o := obj.DeepCopy()
		o.SetName("last")
		_, err := consumerDyn.Resource(databases).Namespace("default").Create(ctx, o, metav1.CreateOptions{})
		require.NoError(t, err)
		framework.Eventually(t, func() (bool, string) {
			_, err := providerDyn.Resource(databases).Namespace(pns).Get(ctx, "last", metav1.GetOptions{})
			return err == nil, fmt.Sprint(err)
		}, framework.WaitTimeout)
		require.NoError(t, cc.Delete(ctx, &kubebindv1alpha1.APIServiceBinding{ObjectMeta: metav1.ObjectMeta{Name: b.Name}}))
		framework.Eventually(t, func() (bool, string) {
			_, err := providerDyn.Resource(databases).Namespace(pns).Get(ctx, "last", metav1.GetOptions{})
			return apierrors.IsNotFound(err), "provider copy still there"
		}, framework.WaitTimeout)
		framework.Eventually(t, func() (bool, string) {
			err := cc.Get(ctx, client.ObjectKey{Name: b.Name}, &apiextensionsv1.CustomResourceDefinition{})
			return apierrors.IsNotFound(err), "CRD still there"
		}, framework.WaitTimeout)
		framework.Eventually(t, func() (bool, string) {
			return r.Running() == 0, fmt.Sprintf("%d syncers running", r.Running())
		}, framework.WaitTimeout)
	})
}

func runKonnector(t *testing.T, cons *framework.Cluster) *binding.Reconciler {
	t.Helper()
	// As the konnector runs, and several tests run one in this process.
	controller := controllerqueue.Config()
	controller.SkipNameValidation = ptr.To(true)
	mgr, err := ctrl.NewManager(cons.Config, ctrl.Options{
		Controller: controller,
		Scheme:     scheme.Scheme,
		Metrics:    metricsserver.Options{BindAddress: "0"},
		Logger:     zap.New(zap.WriteTo(cons.LogWriter("konnector")), zap.UseDevMode(true)),
	})
	require.NoError(t, err)
	dyn, err := dynamicclient.New(cons.Config) // the konnector's own, as main.go makes it
	require.NoError(t, err)
	r := &binding.Reconciler{
		Client: mgr.GetClient(), Consumer: dyn, Recorder: mgr.GetEventRecorder("konnector"),
		ClusterID: "test-cluster", Version: "v0.0.1-test", HeartbeatInterval: 10 * time.Second,
		Limits: provider.Limits{QPS: 100, Burst: 200}, SyncWorkers: 4,
		Log: zap.New(zap.WriteTo(cons.LogWriter("konnector")), zap.UseDevMode(true)),
	}
	require.NoError(t, r.SetupWithManager(mgr))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		assert.NoError(t, mgr.Start(ctx))
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		r.StopAll()
	})
	return r
}

// waitCondition waits for a binding condition and returns its message.
func waitCondition(t *testing.T, c client.Client, name, condType string, status corev1.ConditionStatus, reason string) string {
	t.Helper()
	msg := ""
	framework.Eventually(t, func() (bool, string) {
		b := &kubebindv1alpha1.APIServiceBinding{}
		if err := c.Get(t.Context(), client.ObjectKey{Name: name}, b); err != nil {
			return false, err.Error()
		}
		cond := conditions.Get(b, conditionsType(condType))
		if cond == nil {
			return false, fmt.Sprintf("no %s condition; conditions %v", condType, b.Status.Conditions)
		}
		msg = cond.Message
		return cond.Status == status && (reason == "" || cond.Reason == reason), fmt.Sprintf("%s %s: %s", cond.Status, cond.Reason, cond.Message)
	}, framework.WaitTimeout)
	return msg
}

// histogramCount returns how many observations a histogram of the
// konnector's metrics registry holds for a direction.
func histogramCount(t *testing.T, name, direction string) uint64 {
	t.Helper()
	return labelledHistogramCount(t, name, "direction", direction)
}

// labelledHistogramCount counts the samples of histogram name whose label
// is value.
func labelledHistogramCount(t *testing.T, name, label, value string) uint64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	require.NoError(t, err)
	var n uint64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					n += m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return n
}

func conditionsType(s string) conditionsapi.ConditionType { return conditionsapi.ConditionType(s) }

const clusterNS = framework.ClusterNS

var databases = framework.Databases

func databaseCRD() *apiextensionsv1.CustomResourceDefinition { return framework.DatabaseCRD() }
