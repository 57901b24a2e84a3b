// Package dynamicclient builds the konnector's dynamic clients: client-go's
// dynamic client, with decoders that read each object's JSON once.
//
// client-go's dynamic client decodes a response by reading its JSON five
// times (a pass for its apiVersion and kind, a validity check, then the
// unstructured decoder's own check and decode), and a watch event ten
// times (a frame, the event twice over, then its object as above). The
// konnector decodes an object for every watch event and every write of
// every synced object, and this was a third of its CPU under bursts
// (docs/performance.md, "Targets not met"). Here a response is checked once and
// decoded once, and a watch event is read once from the stream and
// decoded once, with the same decoder (sigs.k8s.io/json, case-sensitive,
// integers kept as int64) into the same maps; anything not decoded the
// same way is handed to client-go's decoder. For a program that drops
// managed fields, OnlyManagedFieldsOf skips them in the JSON
// (managedfields.go); its responses are checked once more, before that.
package dynamicclient

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	kjson "sigs.k8s.io/json"
)

// New is dynamic.NewForConfig with the decoders of this package.
func New(in *rest.Config) (dynamic.Interface, error) {
	cfg := dynamic.ConfigFor(in)
	// As dynamic.NewForConfigAndClient: the dynamic client builds each
	// request's path itself.
	cfg.GroupVersion = nil
	cfg.APIPath = "/if-you-see-this-search-for-the-break"
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating an HTTP client: %w", err)
	}
	return newClient(cfg, httpClient, nil)
}

// OnlyManagedFieldsOf returns d, a client made by New, whose watches and
// responses decode, of each object's managed fields, only the entries of
// the field managers keep accepts: the others are skipped in the JSON
// and never allocated. It is meant for a program that drops managed
// fields, or reads only some managers' entries: what it reads is then
// the same, for less work. It shares d's connections and rate limiter.
// A client of another kind is returned as it is.
func OnlyManagedFieldsOf(d dynamic.Interface, keep func(manager string) bool) (dynamic.Interface, error) {
	c, ok := d.(*client)
	if !ok {
		return d, nil
	}
	cfg := rest.CopyConfig(c.cfg)
	cfg.RateLimiter = c.rest.GetRateLimiter()
	return newClient(cfg, c.http, keep)
}

// newClient is the client of cfg, a dynamic client's configuration, over
// httpClient; keep, if set, says which managers' managed fields entries
// it decodes.
func newClient(cfg *rest.Config, httpClient *http.Client, keep func(manager string) bool) (*client, error) {
	withDecoders := rest.CopyConfig(cfg)
	withDecoders.NegotiatedSerializer = negotiated(cfg.NegotiatedSerializer, keep)
	rc, err := rest.UnversionedRESTClientForConfigAndClient(withDecoders, httpClient)
	if err != nil {
		return nil, fmt.Errorf("creating a REST client: %w", err)
	}
	return &client{Interface: dynamic.New(rc), rest: rc, cfg: cfg, http: httpClient, keep: keep}, nil
}

// negotiated wraps the JSON decoder of ns, the dynamic client's, in the
// decoder of this package, for responses. Encoding is left to ns. Watches
// do not use it: the client of this package reads them itself (watch.go).
func negotiated(ns runtime.NegotiatedSerializer, keep func(manager string) bool) runtime.NegotiatedSerializer {
	infos := slices.Clone(ns.SupportedMediaTypes())
	for i, info := range infos {
		if info.MediaType == runtime.ContentTypeJSON {
			infos[i].Serializer = serializer{Serializer: info.Serializer, keep: keep}
		}
	}
	return negotiatedSerializer{NegotiatedSerializer: ns, infos: infos}
}

type negotiatedSerializer struct {
	runtime.NegotiatedSerializer
	infos []runtime.SerializerInfo
}

func (n negotiatedSerializer) SupportedMediaTypes() []runtime.SerializerInfo { return n.infos }

// clientGoDecoder is the JSON decoder of client-go's dynamic client.
var clientGoDecoder = jsonDecoder(dynamic.ConfigFor(&rest.Config{}).NegotiatedSerializer)

// jsonDecoder is the JSON decoder of ns.
func jsonDecoder(ns runtime.NegotiatedSerializer) runtime.Decoder {
	for _, info := range ns.SupportedMediaTypes() {
		if info.MediaType == runtime.ContentTypeJSON {
			return info.Serializer
		}
	}
	panic("no JSON decoder")
}

// metaScheme knows the kinds client-go's dynamic decoder decodes into
// typed objects (Status, WatchEvent, …): those are left to it. Its
// parameter codec encodes list options as the dynamic client's does.
var metaScheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	return s
}()

// serializer decodes objects into *unstructured.Unstructured itself, and
// leaves the rest to the Serializer it wraps; keep, if set, says which
// managers' managed fields entries it decodes (managedFieldsOf).
type serializer struct {
	runtime.Serializer
	keep func(manager string) bool
}

func (s serializer) Decode(data []byte, defaults *schema.GroupVersionKind, into runtime.Object) (runtime.Object, *schema.GroupVersionKind, error) {
	switch into := into.(type) {
	case nil:
		if u, gvk, ok := decodeUnstructured(data, defaults, s.keep); ok {
			return u, gvk, nil
		}
	case *unstructured.Unstructured:
		if u, gvk, ok := decodeUnstructured(data, defaults, s.keep); ok {
			into.Object = u.Object
			return into, gvk, nil
		}
	}
	return s.Serializer.Decode(data, defaults, into)
}

// decodeUnstructured decodes data as an object of its own kind (ownKind),
// and reports whether it did. Anything else (a Status, an object without
// its apiVersion or kind, bad JSON) is not decoded here, so that
// client-go's decoder gives it its usual type or error. With keep, it
// decodes only the managed fields entries of the managers keep accepts.
func decodeUnstructured(data []byte, defaults *schema.GroupVersionKind, keep func(manager string) bool) (*unstructured.Unstructured, *schema.GroupVersionKind, bool) {
	if defaults != nil && !defaults.Empty() {
		return nil, nil, false // the caller's defaults could fill a missing apiVersion or kind
	}
	if keep != nil {
		if !json.Valid(data) {
			return nil, nil, false // client-go's decoder reports it, as for any client
		}
		data = managedFieldsOf(data, keep)
	}
	var m map[string]any
	if err := kjson.UnmarshalCaseSensitivePreserveInts(data, &m); err != nil {
		return nil, nil, false
	}
	u := &unstructured.Unstructured{Object: m}
	gvk, ok := ownKind(u)
	if !ok {
		return nil, nil, false
	}
	return u, &gvk, true
}

// ownKind reports whether u is an object of its own kind, which this
// package decodes itself: one with its apiVersion and kind, of a kind
// metaScheme does not know.
func ownKind(u *unstructured.Unstructured) (schema.GroupVersionKind, bool) {
	gvk := u.GroupVersionKind()
	return gvk, u.Object != nil && gvk.Kind != "" && gvk.Version != "" && !metaScheme.Recognizes(gvk)
}
