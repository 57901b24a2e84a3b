package objectsync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/bindery-dev/bindery/apis/isolation"
)

// APIServiceNamespaces is the kube-bind resource that maps a consumer
// namespace to its provider namespace.
var APIServiceNamespaces = kubebindv1alpha1.SchemeGroupVersion.WithResource("apiservicenamespaces")

// copiesIn says where the provider copies are, which decides what the
// engine watches: a konnector reads its copies the way the backend grants
// them. In service namespaces, each is watched once the backend assigns
// it; in the cluster namespace, from the start; by name (cluster-scoped
// copies), each copy on its own.
func (e *Engine) copiesIn() isolation.GrantScope { return e.o.Isolation.Grant().Scope }

// consumer is what the isolation strategy knows of this consumer.
func (e *Engine) consumer() isolation.Consumer {
	c := isolation.Consumer{ClusterNamespace: e.o.ClusterNamespace}
	if e.serviceNamespaces != nil {
		c.ServiceNamespaces = e.serviceNamespaces
	}
	return c
}

// placement returns where the copy of the consumer object key lives. When
// the object's consumer namespace has no provider namespace yet, it asks
// the backend for one with an APIServiceNamespace and returns errWaiting;
// so it does until the copies there are watched and their watch has seen
// every copy there is (or it would create copies that exist), see
// copiesWatched.
func (e *Engine) placement(ctx context.Context, key cache.ObjectName) (types.NamespacedName, error) {
	pkey, err := e.o.Isolation.ToProvider(e.consumer(), key.AsNamespacedName())
	if errors.Is(err, isolation.ErrNamespaceNotAssigned) {
		return types.NamespacedName{}, e.requestNamespace(ctx, key.Namespace)
	} else if err != nil {
		return types.NamespacedName{}, err
	}
	if !e.copiesWatched(e.watchOf(pkey)) {
		return types.NamespacedName{}, errWaiting
	}
	return pkey, nil
}

// watchOf returns the watch (namespace, name) that shows the copy pkey.
func (e *Engine) watchOf(pkey types.NamespacedName) (string, string) {
	if e.copiesIn() == isolation.ByName {
		return "", pkey.Name
	}
	return pkey.Namespace, ""
}

// requestNamespace creates the APIServiceNamespace of consumer namespace
// ns, unless there is one, and returns errWaiting: its watch enqueues the
// namespace's objects once the backend has assigned a provider namespace.
func (e *Engine) requestNamespace(ctx context.Context, ns string) error {
	if _, exists, err := e.serviceNamespaces.informer.GetIndexer().GetByKey(e.o.ClusterNamespace + "/" + ns); err != nil {
		return err
	} else if exists {
		return errWaiting
	}
	asn := &unstructured.Unstructured{}
	asn.SetAPIVersion(kubebindv1alpha1.SchemeGroupVersion.String())
	asn.SetKind("APIServiceNamespace")
	asn.SetNamespace(e.o.ClusterNamespace)
	asn.SetName(ns)
	if _, err := e.o.Provider.Resource(APIServiceNamespaces).Namespace(e.o.ClusterNamespace).Create(ctx, asn, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating APIServiceNamespace %s: %w", ns, err)
	}
	return errWaiting
}

// covers reports whether the provider serves obj's namespace, and warns
// once on an object it does not.
func (e *Engine) covers(obj *unstructured.Unstructured) bool {
	if obj.GetNamespace() == "" || e.coversNamespace(obj.GetNamespace()) {
		return true
	}
	if obj.GetAnnotations()[SyncedGenerationAnnotation] != "" {
		return false
	}
	switch {
	case e.o.Neighbours == nil:
		e.o.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, "NamespaceNotBound", "Sync",
			"The provider serves this resource only in namespaces %s; this object stays in this cluster", strings.Join(e.o.Namespaces, ", "))
	case e.o.Neighbours.ReportsUncovered():
		e.o.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, "NamespaceNotBound", "Sync",
			"No binding of this resource serves namespace %s (binding %s serves %s); this object stays in this cluster. "+
				"Bind a provider for it with kubectl bind <url> --namespace %s", obj.GetNamespace(), e.o.Name, strings.Join(e.o.Namespaces, ", "), obj.GetNamespace())
	}
	return false
}

// servedElsewhere reports whether another binding of the resource serves
// consumer namespace ns: its objects are that binding's to sync.
func (e *Engine) servedElsewhere(ns string) bool {
	if ns == "" || e.o.Neighbours == nil || e.coversNamespace(ns) {
		return false
	}
	_, ok := e.o.Neighbours.ServedBy(ns)
	return ok
}

// coversNamespace reports whether the provider serves consumer namespace ns.
func (e *Engine) coversNamespace(ns string) bool {
	return len(e.o.Namespaces) == 0 || slices.Contains(e.o.Namespaces, ns)
}

// refuse tells the user why an object cannot be synced.
func (e *Engine) refuse(obj *unstructured.Unstructured, err error) {
	e.o.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, "SyncFailed", "Sync", "Not synced: %v", err)
}

// serviceNamespaces is the consumer's APIServiceNamespaces, as the
// isolation.Namespaces of ServiceNamespaced.
type serviceNamespaces struct {
	clusterNamespace string
	informer         cache.SharedIndexInformer
}

func (s *serviceNamespaces) ProviderNamespace(ns string) (string, bool) {
	item, ok, _ := s.informer.GetIndexer().GetByKey(s.clusterNamespace + "/" + ns)
	if !ok {
		return "", false
	}
	pns := assignedNamespace(item.(*unstructured.Unstructured))
	return pns, pns != ""
}

func (s *serviceNamespaces) ConsumerNamespace(pns string) (string, bool) {
	for _, item := range s.informer.GetIndexer().List() {
		if u := item.(*unstructured.Unstructured); assignedNamespace(u) == pns {
			return u.GetName(), true
		}
	}
	return "", false
}

// assignedNamespace is the provider namespace of an APIServiceNamespace,
// once the backend assigned one.
func assignedNamespace(asn *unstructured.Unstructured) string {
	pns, _, _ := unstructured.NestedString(asn.Object, "status", "namespace")
	return pns
}
