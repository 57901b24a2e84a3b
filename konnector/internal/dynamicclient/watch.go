package dynamicclient

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	kjson "sigs.k8s.io/json"
)

// client is a dynamic client whose watches read each event once.
type client struct {
	dynamic.Interface
	rest rest.Interface
	// cfg and http are what the client was made of, for
	// OnlyManagedFieldsOf.
	cfg  *rest.Config
	http *http.Client
	// keep, if set, says which managers' entries of the managed fields
	// the client decodes (OnlyManagedFieldsOf).
	keep func(manager string) bool
}

func (c *client) Resource(gvr schema.GroupVersionResource) dynamic.NamespaceableResourceInterface {
	return &resource{NamespaceableResourceInterface: c.Interface.Resource(gvr), w: watcher{rest: c.rest, gvr: gvr, keep: c.keep}}
}

type resource struct {
	dynamic.NamespaceableResourceInterface
	w watcher
}

func (r *resource) Namespace(ns string) dynamic.ResourceInterface {
	w := r.w
	w.namespace = ns
	return &namespaced{ResourceInterface: r.NamespaceableResourceInterface.Namespace(ns), w: w}
}

func (r *resource) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	return r.w.watch(ctx, opts)
}

type namespaced struct {
	dynamic.ResourceInterface
	w watcher
}

func (n *namespaced) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	return n.w.watch(ctx, opts)
}

// watcher watches a resource, in a namespace or in all, as the dynamic
// client does: the same request, not rate limited, and a watch that ends
// at once where the connection broke before it began.
type watcher struct {
	rest      rest.Interface
	gvr       schema.GroupVersionResource
	namespace string
	keep      func(manager string) bool
}

var parameterCodec = runtime.NewParameterCodec(metaScheme)

func (w watcher) watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	opts.Watch = true
	if w.namespace != "" {
		if msgs := rest.IsValidPathSegmentName(w.namespace); len(msgs) != 0 {
			return nil, fmt.Errorf("invalid namespace %q: %v", w.namespace, msgs)
		}
	}
	body, err := w.rest.Get().AbsPath(w.path()...).
		SpecificallyVersionedParams(&opts, parameterCodec, schema.GroupVersion{Version: "v1"}).
		Throttle(nil). // as client-go's watches: a watch is no request to pace
		Stream(ctx)
	if err != nil {
		if utilnet.IsProbableEOF(err) || utilnet.IsTimeout(err) {
			return watch.NewEmptyWatch(), nil
		}
		return nil, err
	}
	return watch.NewStreamWatcherWithLogger(klog.FromContext(ctx), newEventDecoder(body, w.keep),
		apierrors.NewClientErrorReporter(http.StatusInternalServerError, http.MethodGet, "ClientWatchDecoding")), nil
}

// path is the resource's path, as the dynamic client makes it.
func (w watcher) path() []string {
	p := []string{"apis", w.gvr.Group, w.gvr.Version}
	if w.gvr.Group == "" {
		p = []string{"api", w.gvr.Version}
	}
	if w.namespace != "" {
		p = append(p, "namespaces", w.namespace)
	}
	return append(p, w.gvr.Resource)
}

// eventDecoder reads watch events from a stream, each once: client-go
// reads an event's frame, decodes the event twice over (its kind, then
// the event), and then its object as a response.
type eventDecoder struct {
	body io.ReadCloser
	json kjson.Decoder
	keep func(manager string) bool
}

func newEventDecoder(body io.ReadCloser, keep func(manager string) bool) *eventDecoder {
	return &eventDecoder{body: body, json: kjson.NewDecoderCaseSensitivePreserveInts(body), keep: keep}
}

// Decode returns the next event, as client-go's watch decoder does.
func (d *eventDecoder) Decode() (watch.EventType, runtime.Object, error) {
	var e struct {
		Type   watch.EventType `json:"type"`
		Object map[string]any  `json:"object"`
	}
	var err error
	if d.keep == nil {
		err = d.json.Decode(&e)
	} else {
		var f struct {
			Type   watch.EventType `json:"type"`
			Object keptObject      `json:"object"`
		}
		f.Object.keep = d.keep
		err = d.json.Decode(&f)
		e.Type, e.Object = f.Type, f.Object.m
	}
	if err != nil {
		return "", nil, err
	}
	switch e.Type {
	case watch.Added, watch.Modified, watch.Deleted, watch.Error, watch.Bookmark:
	default:
		return "", nil, fmt.Errorf("got invalid watch event type: %v", e.Type)
	}
	obj, err := eventObject(e.Object)
	if err != nil {
		return "", nil, fmt.Errorf("unable to decode watch event: %v", err)
	}
	return e.Type, obj, nil
}

func (d *eventDecoder) Close() { _ = d.body.Close() }

// keptObject decodes an event's object with only the managed fields
// entries of the managers keep accepts (managedFieldsOf).
type keptObject struct {
	keep func(manager string) bool
	m    map[string]any
}

func (o *keptObject) UnmarshalJSON(data []byte) error {
	return kjson.UnmarshalCaseSensitivePreserveInts(managedFieldsOf(data, o.keep), &o.m)
}

// eventObject is an event's object: an unstructured object, or what
// client-go's decoder makes of anything else (a Status, or an error for
// an object without its apiVersion or kind).
func eventObject(m map[string]any) (runtime.Object, error) {
	u := &unstructured.Unstructured{Object: m}
	if _, ok := ownKind(u); ok {
		return u, nil
	}
	data, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return runtime.Decode(clientGoDecoder, data)
}
