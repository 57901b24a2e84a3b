package sync

import (
	"context"
	"testing"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
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

// TestSyncDoesNotRewriteACopyTheCacheHasNotShownYet: syncs of an object
// that run after its copy was created, but before the provider watch
// delivered the copy, must not write the copy again.
func TestSyncDoesNotRewriteACopyTheCacheHasNotShownYet(t *testing.T) {
	const clusterNS, pns = "cluster-ns", "cluster-ns-default"
	obj := db("default", "orders")
	sch := runtime.NewScheme()
	listKinds := map[schema.GroupVersionResource]string{databases: "DatabaseList"}
	consumer := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(sch, listKinds, obj.DeepCopy())
	provider := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(sch, listKinds)

	asn := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kube-bind.io/v1alpha1", "kind": "APIServiceNamespace",
		"metadata": map[string]any{"namespace": clusterNS, "name": "default"},
		"status":   map[string]any{"namespace": pns},
	}}
	s := New(Options{
		Name: "test", GVR: databases, Consumer: consumer, Provider: provider,
		ClusterNamespace: clusterNS, ClusterID: "c1",
		Recorder: events.NewFakeRecorder(10), Log: logr.Discard(),
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	s.ctx = ctx
	s.consumerInformer = unstartedInformer(obj)
	s.asnInformer = unstartedInformer(asn)
	s.providers[pns] = &providerInformer{informer: unstartedInformer(), cancel: func() {}}

	_, err := s.sync(ctx, "default/orders")
	require.NoError(t, err)
	// The consumer's cache now shows the finalizer; the provider's does
	// not show the copy yet.
	updated, err := consumer.Resource(databases).Namespace("default").Get(ctx, "orders", metav1.GetOptions{})
	require.NoError(t, err)
	require.NoError(t, s.consumerInformer.GetIndexer().Update(updated))
	_, err = s.sync(ctx, "default/orders")
	require.NoError(t, err)

	var writes []string
	for _, a := range provider.Actions() {
		if a.GetVerb() != "get" && a.GetVerb() != "list" && a.GetVerb() != "watch" {
			writes = append(writes, a.GetVerb()+" "+a.GetResource().Resource)
		}
	}
	assert.Equal(t, []string{"create databases"}, writes, "one write of the copy")
	created := provider.Actions()[0].(clienttesting.CreateAction).GetObject().(*unstructured.Unstructured)
	assert.Equal(t, "orders", created.GetName())
	assert.Equal(t, pns, created.GetNamespace())
}
