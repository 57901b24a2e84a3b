package framework

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Requests counts what an API server has served, by verb and resource,
// from its own apiserver_request_total counter: what benchmarks report as
// the writes a workload costs.
type Requests map[RequestKind]float64

// RequestKind is a verb on a resource; Resource has its subresource after
// a slash ("databases/status").
type RequestKind struct {
	Verb, Resource string
}

func (k RequestKind) String() string { return k.Verb + ":" + k.Resource }

// writeVerbs are the verbs apiserver_request_total counts for writes.
var writeVerbs = map[string]bool{"POST": true, "PUT": true, "PATCH": true, "APPLY": true, "DELETE": true, "DELETECOLLECTION": true}

// Requests reads the API server's request counters.
func (c *Cluster) Requests(t TB) Requests {
	t.Helper()
	requests, _ := c.RequestsAndTerminatedWatches(t)
	return requests
}

// RequestsAndTerminatedWatches reads, from one /metrics, the API server's
// request counters and, among the watches that ended, those it closed
// because their client fell behind (apiserver_terminated_watchers_total),
// as WATCH requests by resource: the watch cache gives each watcher a
// small buffer of events, sized when the watch starts, and closes a
// watcher that does not take an event in time. The client watches again
// from where it was, or lists anew if the cache no longer holds that
// point.
func (c *Cluster) RequestsAndTerminatedWatches(t TB) (requests, terminated Requests) {
	t.Helper()
	families, err := metricFamilies(c.metrics(t))
	if err == nil {
		requests, err = requestsIn(families)
	}
	if err != nil {
		t.Fatalf("parsing the metrics of %s: %v", c.Name, err)
	}
	return requests, terminatedWatchesIn(families)
}

// metrics reads the API server's /metrics.
func (c *Cluster) metrics(t TB) []byte {
	t.Helper()
	raw, err := c.Kube.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(t.Context())
	if err != nil {
		t.Fatalf("reading the metrics of %s: %v", c.Name, err)
	}
	return raw
}

// metricFamilies parses metrics in the text format.
func metricFamilies(raw []byte) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(bytes.NewReader(raw))
}

// labelsOf returns a metric's labels by name.
func labelsOf(m *dto.Metric) map[string]string {
	labels := map[string]string{}
	for _, l := range m.GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	return labels
}

func requestsIn(families map[string]*dto.MetricFamily) (Requests, error) {
	out := Requests{}
	f, ok := families["apiserver_request_total"]
	if !ok {
		return nil, fmt.Errorf("no apiserver_request_total")
	}
	for _, m := range f.GetMetric() {
		labels := labelsOf(m)
		k := RequestKind{Verb: labels["verb"], Resource: labels["resource"]}
		if s := labels["subresource"]; s != "" {
			k.Resource += "/" + s
		}
		out[k] += m.GetCounter().GetValue()
	}
	return out, nil
}

// Since returns what was served after before was read.
func (r Requests) Since(before Requests) Requests {
	out := Requests{}
	for k, v := range r {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

// Writes returns the writes among r.
func (r Requests) Writes() Requests {
	out := Requests{}
	for k, v := range r {
		if writeVerbs[k.Verb] {
			out[k] = v
		}
	}
	return out
}

// Reads returns the gets and lists among r.
func (r Requests) Reads() Requests {
	out := Requests{}
	for k, v := range r {
		if k.Verb == "GET" || k.Verb == "LIST" {
			out[k] = v
		}
	}
	return out
}

// WatchesEnded returns the watches among r. An API server counts a watch
// when it ends: on its timeout, when the client stops it, or when the
// server closes it.
func (r Requests) WatchesEnded() Requests {
	out := Requests{}
	for k, v := range r {
		if k.Verb == "WATCH" {
			out[k] = v
		}
	}
	return out
}

func terminatedWatchesIn(families map[string]*dto.MetricFamily) Requests {
	out := Requests{}
	// An API server shows the counter once it has closed a watcher.
	for _, m := range families["apiserver_terminated_watchers_total"].GetMetric() {
		out[RequestKind{Verb: "WATCH", Resource: labelsOf(m)["resource"]}] += m.GetCounter().GetValue()
	}
	return out
}

// Total is the number of requests in r.
func (r Requests) Total() float64 {
	var n float64
	for _, v := range r {
		n += v
	}
	return n
}

// String lists r by kind, for logs.
func (r Requests) String() string {
	var b strings.Builder
	for _, k := range slices.SortedFunc(maps.Keys(r), func(a, b RequestKind) int { return strings.Compare(a.String(), b.String()) }) {
		fmt.Fprintf(&b, "%s=%g ", k, r[k])
	}
	return strings.TrimSpace(b.String())
}

// Watches returns how many watches of a resource the API server serves
// now (its apiserver_longrunning_requests gauge), from every client.
func (c *Cluster) Watches(t TB, group, resource string) int {
	t.Helper()
	n, err := parseWatches(c.metrics(t), group, resource)
	if err != nil {
		t.Fatalf("parsing the metrics of %s: %v", c.Name, err)
	}
	return n
}

func parseWatches(raw []byte, group, resource string) (int, error) {
	families, err := metricFamilies(raw)
	if err != nil {
		return 0, err
	}
	var n float64
	for _, m := range families["apiserver_longrunning_requests"].GetMetric() {
		labels := labelsOf(m)
		if labels["verb"] == "WATCH" && labels["group"] == group && labels["resource"] == resource && labels["subresource"] == "" {
			n += m.GetGauge().GetValue()
		}
	}
	return int(n), nil
}
