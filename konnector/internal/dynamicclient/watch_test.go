package dynamicclient

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

var databases = schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "databases"}

// events is a watch stream of a little of everything: objects, a
// bookmark, a core object, an error Status, an event of no known type.
var events = strings.Join([]string{
	`{"type":"ADDED","object":` + database + `}`,
	`{"type":"MODIFIED","object":{"apiVersion":"example.com/v1","kind":"Database","metadata":{"name":"db","resourceVersion":"8"},"status":{"ready":true,"n":1.5}}}`,
	` {"type":"BOOKMARK","object":{"apiVersion":"example.com/v1","kind":"Database","metadata":{"resourceVersion":"9","annotations":{"k8s.io/initial-events-end":"true"}}}}`,
	`{"type":"DELETED","object":{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}}}`,
	`{"type":"ERROR","object":{"apiVersion":"v1","kind":"Status","status":"Failure","reason":"Expired","code":410,"message":"too old"}}`,
	`{"type":"NOPE","object":` + database + `}`,
}, "\n")

// server answers watches of databases with events, closes the connection
// of a watch of brokens before answering, and answers anything else with
// a 403 Status; it records the requests' paths and queries.
func server(t *testing.T) (*rest.Config, func() []string) {
	var mu sync.Mutex
	var requests []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests = append(requests, r.URL.String())
		mu.Unlock()
		if strings.HasSuffix(r.URL.Path, "/brokens") {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if !strings.HasSuffix(r.URL.Path, "/databases") {
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"apiVersion":"v1","kind":"Status","status":"Failure","reason":"Forbidden","code":403,"message":"databases are forbidden"}`)
			return
		}
		_, _ = io.WriteString(w, events)
	}))
	t.Cleanup(srv.Close)
	return &rest.Config{Host: srv.URL}, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), requests...)
	}
}

type watched struct {
	Events []watch.Event
	Err    string
}

func watchAll(t *testing.T, d dynamic.Interface, gvr schema.GroupVersionResource, ns string, opts metav1.ListOptions) watched {
	t.Helper()
	var ri dynamic.ResourceInterface = d.Resource(gvr)
	if ns != "" {
		ri = d.Resource(gvr).Namespace(ns)
	}
	w, err := ri.Watch(context.Background(), opts)
	if err != nil {
		return watched{Err: err.Error()}
	}
	defer w.Stop()
	var out watched
	for e := range w.ResultChan() {
		out.Events = append(out.Events, e)
	}
	return out
}

// TestWatchesAsClientGo watches with client-go's dynamic client and with
// this package's, and wants the same requests and the same events, or
// the same error.
func TestWatchesAsClientGo(t *testing.T) {
	opts := metav1.ListOptions{
		LabelSelector: "bindery.dev/managed-by=konnector", FieldSelector: "metadata.name=db",
		ResourceVersion: "5", ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan,
		AllowWatchBookmarks: true, SendInitialEvents: new(bool), TimeoutSeconds: new(int64),
	}
	*opts.SendInitialEvents, *opts.TimeoutSeconds = true, 300
	tests := []struct {
		name   string
		gvr    schema.GroupVersionResource
		ns     string
		events int
	}{
		{"in a namespace", databases, "ns", 6}, // the last is client-go's report of the unknown type
		{"in all namespaces", databases, "", 6},
		{"core resource", schema.GroupVersionResource{Version: "v1", Resource: "databases"}, "ns", 6},
		{"refused", schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "secrets"}, "ns", 0},
		{"bad namespace", databases, "a/b", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, requests := server(t)
			clientGo, err := dynamic.NewForConfig(cfg)
			if err != nil {
				t.Fatal(err)
			}
			here, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			want := watchAll(t, clientGo, tt.gvr, tt.ns, opts)
			wantRequests := requests()
			got := watchAll(t, here, tt.gvr, tt.ns, opts)
			gotRequests := requests()[len(wantRequests):]
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("watched differently from client-go (-client-go +here):\n%s", diff)
			}
			if diff := cmp.Diff(wantRequests, gotRequests); diff != "" {
				t.Errorf("requested differently from client-go (-client-go +here):\n%s", diff)
			}
			if len(got.Events) != tt.events {
				t.Errorf("%d events, want %d (error %q)", len(got.Events), tt.events, got.Err)
			}
		})
	}
}

// TestOnlyManagedFieldsOf watches and reads objects with managed fields
// through OnlyManagedFieldsOf, and wants client-go's events and objects
// less the entries of the managers not kept; the client it was made from
// still decodes them whole, and both share one rate limiter.
func TestOnlyManagedFieldsOf(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("watch") != "true" {
			_, _ = io.WriteString(w, withManagers)
			return
		}
		_, _ = io.WriteString(w, `{"type":"ADDED","object":`+withManagers+"}\n"+strings.Join(strings.Split(events, "\n")[1:], "\n"))
	}))
	t.Cleanup(srv.Close)
	cfg := &rest.Config{Host: srv.URL}
	clientGo, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	keep := only("bindery-konnector")
	here, err := OnlyManagedFieldsOf(d, keep)
	if err != nil {
		t.Fatal(err)
	}

	want := watchAll(t, clientGo, databases, "ns", metav1.ListOptions{})
	got := watchAll(t, here, databases, "ns", metav1.ListOptions{})
	if len(want.Events) != 6 || len(got.Events) != 6 {
		t.Fatalf("%d and %d events, want 6 (errors %q, %q)", len(want.Events), len(got.Events), want.Err, got.Err)
	}
	first := want.Events[0].Object.(*unstructured.Unstructured)
	first.Object = keptManagers(t, []byte(withManagers), keep).(map[string]any)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("watched differently from client-go less the other managers' entries (-want +got):\n%s", diff)
	}
	if n := len(got.Events[0].Object.(*unstructured.Unstructured).GetManagedFields()); n != 1 {
		t.Errorf("a watched object with %d managed fields entries, want 1", n)
	}

	ctx := context.Background()
	obj, err := here.Resource(databases).Namespace("ns").Get(ctx, "db", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first.Object, obj.Object); diff != "" {
		t.Errorf("read differently from client-go less the other managers' entries (-want +got):\n%s", diff)
	}
	whole, err := d.Resource(databases).Namespace("ns").Get(ctx, "db", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(whole.GetManagedFields()); n != 3 {
		t.Errorf("the client it was made from read %d managed fields entries, want all 3", n)
	}
	if a, b := d.(*client).rest.GetRateLimiter(), here.(*client).rest.GetRateLimiter(); a != b {
		t.Error("the two clients have a rate limiter each")
	}

	if other, err := OnlyManagedFieldsOf(clientGo, keep); other != clientGo || err != nil {
		t.Errorf("a client of another kind was changed (error %v)", err)
	}
}

// TestWatchesAreNotRateLimited watches, as client-go does, even when the
// client's rate limiter has no request left for minutes.
func TestWatchesAreNotRateLimited(t *testing.T) {
	cfg, _ := server(t)
	cfg.QPS, cfg.Burst = 0.001, 1
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = d.Resource(databases).Namespace("ns").Get(ctx, "db", metav1.GetOptions{}) // the limiter's one request
	w, err := d.Resource(databases).Namespace("ns").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("watch waited for the rate limiter: %v", err)
	}
	w.Stop()
}

// TestAWatchBrokenBeforeItBeganEnds wants a watch whose connection broke
// before the server answered to end at once without an error, as
// client-go's does after its retries (ten, a second apart), so that an
// informer watches again rather than lists.
func TestAWatchBrokenBeforeItBeganEnds(t *testing.T) {
	cfg, requests := server(t)
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	brokens := schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "brokens"}
	if got := watchAll(t, d, brokens, "ns", metav1.ListOptions{}); got.Err != "" || len(got.Events) != 0 {
		t.Errorf("watched %+v, want no events and no error", got)
	}
	if len(requests()) != 1 {
		t.Errorf("%d requests, want the one that broke", len(requests()))
	}
}

// BenchmarkWatch decodes the events of a watch stream as client-go's
// dynamic client does and as this package's does, of objects without
// and with managed fields, whole and keeping one manager's entries.
func BenchmarkWatch(b *testing.B) {
	for _, bc := range []struct {
		name string
		new  func(*rest.Config) (dynamic.Interface, error)
	}{
		{"client-go", func(c *rest.Config) (dynamic.Interface, error) { return dynamic.NewForConfig(c) }},
		{"dynamicclient", New},
		{"dynamicclient,no-manager", func(c *rest.Config) (dynamic.Interface, error) {
			d, err := New(c)
			if err != nil {
				return nil, err
			}
			return OnlyManagedFieldsOf(d, only())
		}},
		{"dynamicclient,one-manager", func(c *rest.Config) (dynamic.Interface, error) {
			d, err := New(c)
			if err != nil {
				return nil, err
			}
			return OnlyManagedFieldsOf(d, only("bindery-konnector"))
		}},
	} {
		for _, obj := range []struct{ name, json string }{{"bare", database}, {"managed", withManagers}} {
			stream := strings.Repeat(`{"type":"MODIFIED","object":`+obj.json+"}\n", 1000)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, stream)
			}))
			d, err := bc.new(&rest.Config{Host: srv.URL})
			if err != nil {
				b.Fatal(err)
			}
			b.Run(bc.name+"/"+obj.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					w, err := d.Resource(databases).Namespace("ns").Watch(context.Background(), metav1.ListOptions{})
					if err != nil {
						b.Fatal(err)
					}
					n := 0
					for range w.ResultChan() {
						n++
					}
					if n != 1000 {
						b.Fatalf("%d events", n)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/event")
			})
			srv.Close()
		}
	}
}
