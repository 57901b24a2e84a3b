package objectsync

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path"
	"strconv"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/rest"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"

	"github.com/bindery-dev/bindery/apis/isolation"
	"github.com/bindery-dev/bindery/konnector/internal/dynamicclient"
)

var databases = schema.GroupVersionResource{Group: "db.example.com", Version: "v1", Resource: "databases"}

// unstartedInformer is an informer whose cache the test fills by hand: it
// never lists or watches, so it shows exactly what the test put in it.
func unstartedInformer(objs ...*unstructured.Unstructured) cache.SharedIndexInformer {
	inf := cache.NewSharedIndexInformer(&cache.ListWatch{}, &unstructured.Unstructured{}, 0,
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, o := range objs {
		_ = inf.GetIndexer().Add(o)
	}
	return inf
}

func db(ns, name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "db.example.com/v1", "kind": "Database",
		"metadata": map[string]any{"namespace": ns, "name": name, "uid": "uid-1", "generation": int64(1)},
		"spec":     map[string]any{"size": "small"},
	}}
}

// consumerWithVersions is a fake consumer whose updates, like an API
// server's, need the current resourceVersion and bump it.
func consumerWithVersions(t *testing.T, listKinds map[schema.GroupVersionResource]string, obj *unstructured.Unstructured) *dynamicfake.FakeDynamicClient {
	obj.SetResourceVersion("1")
	c := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), listKinds, obj)
	c.PrependReactor("update", "databases", func(a clienttesting.Action) (bool, runtime.Object, error) {
		u := a.(clienttesting.UpdateAction).GetObject().(*unstructured.Unstructured).DeepCopy()
		cur, err := c.Tracker().Get(databases, u.GetNamespace(), u.GetName())
		if err != nil {
			return true, nil, err
		}
		rv, _ := strconv.Atoi(cur.(*unstructured.Unstructured).GetResourceVersion())
		if u.GetResourceVersion() != strconv.Itoa(rv) {
			return true, nil, apierrors.NewConflict(databases.GroupResource(), u.GetName(), errors.New("stale resourceVersion"))
		}
		u.SetResourceVersion(strconv.Itoa(rv + 1))
		return true, u, c.Tracker().Update(databases, u, u.GetNamespace())
	})
	return c
}

// testEngine is an engine of Databases between fake clusters, its caches
// filled by hand: obj in the consumer, and namespace "default" served by
// provider namespace pns, whose copies are watched.
func testEngine(t *testing.T, obj *unstructured.Unstructured) (e *Engine, consumer, provider *dynamicfake.FakeDynamicClient) {
	t.Helper()
	const clusterNS = "cluster-ns"
	listKinds := map[schema.GroupVersionResource]string{databases: "DatabaseList"}
	consumer = consumerWithVersions(t, listKinds, obj)
	provider = dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), listKinds)
	asn := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kube-bind.io/v1alpha1", "kind": "APIServiceNamespace",
		"metadata": map[string]any{"namespace": clusterNS, "name": "default"},
		"status":   map[string]any{"namespace": pns},
	}}
	strategy, err := isolation.For(apiextensionsv1.NamespaceScoped, "")
	require.NoError(t, err)
	e = New(Options{
		Name: "test", GVR: databases, Consumer: consumer, Provider: provider,
		ClusterNamespace: clusterNS, ClusterID: "c1", Isolation: strategy,
		Recorder: events.NewFakeRecorder(10), Log: logr.Discard(),
	})
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	e.ctx = ctx
	e.consumerInformer = unstartedInformer(obj)
	e.consumerObjects = cache.NewIntegerResourceVersionMutationCache(logr.Discard(), e.consumerInformer.GetStore(), e.consumerInformer.GetIndexer(), mutationTTL, false)
	e.serviceNamespaces = &serviceNamespaces{clusterNamespace: clusterNS, informer: unstartedInformer(asn)}
	watched := &providerWatch{informer: unstartedInformer(), cancel: func() {}}
	watched.synced.Store(true)
	e.providers.byKey = map[string]*providerWatch{pns: watched}
	return e, consumer, provider
}

const pns = "cluster-ns-default"

// writes lists a fake client's writes as "verb resource[/subresource]".
func writes(c *dynamicfake.FakeDynamicClient) []string {
	var out []string
	for _, a := range c.Actions() {
		if a.GetVerb() != "get" && a.GetVerb() != "list" && a.GetVerb() != "watch" {
			out = append(out, a.GetVerb()+" "+path.Join(a.GetResource().Resource, a.GetSubresource()))
		}
	}
	return out
}

// TestSyncDoesNotRewriteWhatTheCachesHaveNotShownYet: syncs of an object
// that run after its copy was created and its finalizer added, but before
// the watches delivered those writes, must not write either again. The
// first sync creates the copy alone.
func TestSyncDoesNotRewriteWhatTheCachesHaveNotShownYet(t *testing.T) {
	obj := db("default", "orders")
	e, consumer, provider := testEngine(t, obj)
	ctx := t.Context()
	_, err := e.syncObject(ctx, cache.NewObjectName("default", "orders"))
	require.NoError(t, err)
	assert.Equal(t, []string{"create databases"}, writes(provider))
	assert.Empty(t, writes(consumer), "a new copy goes first, alone; the mark follows in the next sync")
	for range 2 {
		_, err := e.syncObject(ctx, cache.NewObjectName("default", "orders"))
		require.NoError(t, err)
	}

	assert.Equal(t, []string{"create databases"}, writes(provider), "one write of the copy")
	assert.Equal(t, []string{"update databases"}, writes(consumer), "one write of the finalizer and synced generation")
	got, err := consumer.Resource(databases).Namespace("default").Get(ctx, "orders", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, []string{Finalizer}, got.GetFinalizers())
	created := provider.Actions()[0].(clienttesting.CreateAction).GetObject().(*unstructured.Unstructured)
	assert.Equal(t, "orders", created.GetName())
	assert.Equal(t, pns, created.GetNamespace())
}

// engineWithCopy is a testEngine of a resource with a status, whose
// consumer object default/orders has a copy created copyAge ago, with a
// status if copyStatus; recorded, the object carries the record of its
// sync (finalizer and synced generation).
func engineWithCopy(t *testing.T, recorded bool, copyAge time.Duration, copyStatus bool) (*Engine, *dynamicfake.FakeDynamicClient) {
	t.Helper()
	obj := db("default", "orders")
	if recorded {
		obj.SetFinalizers([]string{Finalizer})
		obj.SetAnnotations(map[string]string{SyncedGenerationAnnotation: "1"})
	}
	e, consumer, _ := testEngine(t, obj)
	e.o.HasStatus = true
	copyObj := e.providerCopy(obj, types.NamespacedName{Namespace: pns, Name: "orders"})
	copyObj.SetCreationTimestamp(metav1.NewTime(time.Now().Add(-copyAge)))
	if copyStatus {
		copyObj.Object["status"] = map[string]any{"phase": "Ready"}
	}
	require.NoError(t, e.providers.byKey[pns].informer.GetIndexer().Add(copyObj))
	return e, consumer
}

// TestFirstStatusBeforeTheRecord: once the copy exists, its first status
// comes back before the consumer object records the sync (finalizer and
// synced generation), and the record waits for that status for at most
// markDelay after the copy's creation, so that it never holds it up.
func TestFirstStatusBeforeTheRecord(t *testing.T) {
	tests := []struct {
		name       string
		copyAge    time.Duration
		copyStatus bool
		recorded   bool
		// syncs is how many times the object is synced, once if 0.
		syncs int
		want  []string
		wait  bool
	}{
		{name: "a new copy without status: the record waits", copyAge: 0, want: nil, wait: true},
		{name: "the first status goes first, alone", copyAge: 0, copyStatus: true, want: []string{"update databases/status"}},
		{name: "the record follows in the sync the status's event brings", copyAge: 0, copyStatus: true, syncs: 2, want: []string{"update databases/status", "update databases"}},
		{name: "a copy without status for longer than markDelay: recorded without it", copyAge: markDelay + time.Second, want: []string{"update databases"}},
		{name: "the provider's clock an hour ahead: the record waits markDelay at most", copyAge: -time.Hour, want: nil, wait: true},
		{name: "recorded already: nothing to wait for", copyAge: 0, recorded: true, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, consumer := engineWithCopy(t, tt.recorded, tt.copyAge, tt.copyStatus)

			var wait time.Duration
			for range max(tt.syncs, 1) {
				var err error
				wait, err = e.syncObject(t.Context(), cache.NewObjectName("default", "orders"))
				require.NoError(t, err)
			}
			assert.Equal(t, tt.want, writes(consumer))
			if tt.wait {
				assert.Greater(t, wait, time.Duration(0))
				assert.LessOrEqual(t, wait, markDelay)
			} else {
				assert.Zero(t, wait)
			}
		})
	}
}

// TestFirstStatusSendsTheRecordToTheMarkLane: the sync that brings a new
// object's first status up leaves the sync that follows it, which only
// records the sync, to the mark lane; any other sync leaves the next one
// to the down lane.
func TestFirstStatusSendsTheRecordToTheMarkLane(t *testing.T) {
	tests := []struct {
		name       string
		recorded   bool
		copyStatus bool
		want       int
	}{
		{name: "a new object's first status came up", copyStatus: true, want: markLane},
		{name: "a new copy without status: the record waits, not in the mark lane", want: downLane},
		{name: "a recorded object's status came up", recorded: true, copyStatus: true, want: downLane},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _ := engineWithCopy(t, tt.recorded, 0, tt.copyStatus)
			key := cache.NewObjectName("default", "orders")
			_, err := e.syncObject(t.Context(), key)
			require.NoError(t, err)

			r := objectRequest(key)
			e.lanes.Push(r) // the status's own consumer event adds it again
			assert.Equal(t, tt.want, e.lanes.queued[r].lane)
		})
	}
}

// TestObjectGoneBeforeItsFinalizer: a consumer object deleted before the
// konnector added its finalizer leaves a copy behind, which the next sync
// deletes, or releases when the object asked to be orphaned.
func TestObjectGoneBeforeItsFinalizer(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		want        []string
	}{
		{"collected", nil, []string{"create databases", "delete databases"}},
		{"orphaned", map[string]string{OrphanAnnotation: "true"}, []string{"create databases", "patch databases"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := db("default", "orders")
			obj.SetAnnotations(tt.annotations)
			e, _, provider := testEngine(t, obj)
			ctx := t.Context()
			key := cache.NewObjectName("default", "orders")
			_, err := e.syncObject(ctx, key)
			require.NoError(t, err)
			// Deleted at once: the watch says so, and the cache forgets it.
			e.consumerDeleted(obj)
			require.NoError(t, e.consumerInformer.GetIndexer().Delete(obj))
			_, err = e.syncObject(ctx, key)
			require.NoError(t, err)
			assert.Equal(t, tt.want, writes(provider))
			if tt.annotations != nil {
				kept, err := provider.Resource(databases).Namespace(pns).Get(ctx, "orders", metav1.GetOptions{})
				require.NoError(t, err)
				assert.NotContains(t, kept.GetLabels(), ManagedByLabel, "released")
				assert.Empty(t, e.kept.keys, "forgotten once released")
			}
		})
	}
}

// TestReadsStartNoWatch: an object whose namespace has no provider
// namespace yet asks the backend for one and waits; neither that nor a
// read of an unwatched copy starts a watch.
func TestReadsStartNoWatch(t *testing.T) {
	obj := db("team-a", "orders")
	e, _, provider := testEngine(t, obj)
	requeue, err := e.syncObject(t.Context(), cache.NewObjectName("team-a", "orders"))
	require.NoError(t, err)
	assert.Zero(t, requeue, "the APIServiceNamespace watch enqueues it again")
	assert.Equal(t, []string{"create apiservicenamespaces"}, writes(provider))

	_, ok := e.cachedCopy(types.NamespacedName{Namespace: "elsewhere", Name: "orders"})
	assert.False(t, ok)
	assert.Len(t, e.providers.byKey, 1, "only the watch the test set up")
}

// TestReconcile: requests reach their step; a conflict is not retried
// with a backoff, since the newer version's event enqueues the object.
func TestReconcile(t *testing.T) {
	obj := db("default", "orders")
	e, consumer, provider := testEngine(t, obj)
	res, err := e.Reconcile(t.Context(), objectRequest(cache.NewObjectName("default", "orders")))
	require.NoError(t, err)
	assert.Zero(t, res)
	assert.Equal(t, []string{"create databases"}, writes(provider))

	consumer.PrependReactor("update", "databases", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewConflict(databases.GroupResource(), "orders", errors.New("changed"))
	})
	e.consumerObjects = cache.NewIntegerResourceVersionMutationCache(logr.Discard(), e.consumerInformer.GetStore(), e.consumerInformer.GetIndexer(), mutationTTL, false)
	_, err = e.Reconcile(t.Context(), objectRequest(cache.NewObjectName("default", "orders")))
	assert.NoError(t, err, "a conflict waits for the watch")
}

func TestRequests(t *testing.T) {
	assert.Equal(t, Request{Object: cache.NewObjectName("ns", "db")}, objectRequest(cache.NewObjectName("ns", "db")))
	c := claimRequest(2, "ns", "conn")
	assert.True(t, c.Claimed)
	assert.Equal(t, 2, c.Claim)
	assert.NotEqual(t, objectRequest(cache.NewObjectName("ns", "conn")), c, "a claimed object and a bound object of one name are different work")
}

// TestRefusalHint: a refused create of a cluster-scoped copy says that
// the provider may have withdrawn create at its bound; other refusals
// carry the provider's own message alone.
func TestRefusalHint(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Group: "geo.example.com", Resource: "regions"}, "eu", errors.New("cannot create resource"))
	invalid := apierrors.NewInvalid(schema.GroupKind{Group: "geo.example.com", Kind: "Region"}, "eu", nil)
	tests := []struct {
		name  string
		verb  string
		scope isolation.GrantScope
		err   error
		hint  bool
	}{
		{name: "create of a cluster-scoped copy refused", verb: "create", scope: isolation.ByName, err: forbidden, hint: true},
		{name: "apply of a cluster-scoped copy refused", verb: "apply", scope: isolation.ByName, err: forbidden},
		{name: "create of a cluster-scoped copy invalid", verb: "create", scope: isolation.ByName, err: invalid},
		{name: "create in a service namespace refused (a quota says so itself)", verb: "create", scope: isolation.InServiceNamespace, err: forbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := refusalHint(tt.verb, tt.scope, tt.err)
			if tt.hint {
				assert.Contains(t, got, "withdraws create")
			} else {
				assert.Empty(t, got)
			}
		})
	}
}

// TestEngineDecodesNoConsumerManagedFields wants the engine's consumer
// client, made of the konnector's, to decode no managed fields: the
// engine drops them from every consumer object it reads.
func TestEngineDecodesNoConsumerManagedFields(t *testing.T) {
	const obj = `{"apiVersion":"db.example.com/v1","kind":"Database","metadata":{"name":"orders","namespace":"default","managedFields":[` +
		`{"manager":"kubectl","operation":"Update","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:size":{}}}},` +
		`{"manager":"bindery-konnector","operation":"Update","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:finalizers":{}}}}]},"spec":{"size":"1"}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, obj)
	}))
	t.Cleanup(srv.Close)
	konnectors, err := dynamicclient.New(&rest.Config{Host: srv.URL})
	require.NoError(t, err)
	e := New(Options{Name: "test", GVR: databases, Consumer: konnectors, Log: logr.Discard()})

	got, err := e.consumerClient.Resource(databases).Namespace("default").Get(t.Context(), "orders", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Empty(t, got.GetManagedFields())
	assert.Equal(t, map[string]any{"size": "1"}, got.Object["spec"])
	whole, err := konnectors.Resource(databases).Namespace("default").Get(t.Context(), "orders", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Len(t, whole.GetManagedFields(), 2, "the konnector's client itself decodes them")
}
