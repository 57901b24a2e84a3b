package framework

import "testing"

// parseRequests parses a /metrics text for its request counters.
func parseRequests(raw []byte) (Requests, error) {
	families, err := metricFamilies(raw)
	if err != nil {
		return nil, err
	}
	return requestsIn(families)
}

func TestRequestsCountsWritesByVerbAndResource(t *testing.T) {
	before, err := parseRequests([]byte(`# TYPE apiserver_request_total counter
apiserver_request_total{code="201",resource="databases",subresource="",verb="POST"} 3
apiserver_request_total{code="200",resource="databases",subresource="status",verb="PUT"} 1
apiserver_request_total{code="200",resource="databases",subresource="",verb="LIST"} 2
`))
	if err != nil {
		t.Fatal(err)
	}
	after, err := parseRequests([]byte(`# TYPE apiserver_request_total counter
apiserver_request_total{code="201",resource="databases",subresource="",verb="POST"} 5
apiserver_request_total{code="409",resource="databases",subresource="",verb="POST"} 1
apiserver_request_total{code="200",resource="databases",subresource="status",verb="PUT"} 4
apiserver_request_total{code="200",resource="databases",subresource="",verb="LIST"} 7
apiserver_request_total{code="200",resource="databases",subresource="",verb="WATCH"} 1
`))
	if err != nil {
		t.Fatal(err)
	}
	d := after.Since(before)
	if got, want := d.Writes().String(), "POST:databases=3 PUT:databases/status=3"; got != want {
		t.Errorf("writes %q, want %q", got, want)
	}
	if got, want := d.Reads().Total(), 5.0; got != want {
		t.Errorf("reads %g, want %g", got, want)
	}
	if got, want := d.WatchesEnded().String(), "WATCH:databases=1"; got != want {
		t.Errorf("watches ended %q, want %q", got, want)
	}
	if _, err := parseRequests([]byte("other_total 1\n")); err == nil {
		t.Error("metrics without apiserver_request_total parsed")
	}
}

func TestWatchesCountsOneResource(t *testing.T) {
	raw := []byte(`# TYPE apiserver_longrunning_requests gauge
apiserver_longrunning_requests{component="apiserver",group="raw.example.com",resource="databases",scope="cluster",subresource="",verb="WATCH",version="v1"} 1
apiserver_longrunning_requests{component="apiserver",group="raw.example.com",resource="databases",scope="namespace",subresource="",verb="WATCH",version="v1"} 2
apiserver_longrunning_requests{component="apiserver",group="db.example.com",resource="databases",scope="cluster",subresource="",verb="WATCH",version="v1"} 5
apiserver_longrunning_requests{component="apiserver",group="",resource="pods",scope="namespace",subresource="log",verb="CONNECT",version="v1"} 1
`)
	if n, err := parseWatches(raw, "raw.example.com", "databases"); err != nil || n != 3 {
		t.Errorf("watches %d, %v; want 3", n, err)
	}
	if n, err := parseWatches([]byte("other_total 1\n"), "raw.example.com", "databases"); err != nil || n != 0 {
		t.Errorf("watches without the gauge %d, %v; want 0", n, err)
	}
}

func TestTerminatedWatchesCountsByResource(t *testing.T) {
	raw := []byte(`# TYPE apiserver_terminated_watchers_total counter
apiserver_terminated_watchers_total{group="db.example.com",resource="databases"} 3
apiserver_terminated_watchers_total{group="raw.example.com",resource="databases"} 2
apiserver_terminated_watchers_total{group="",resource="secrets"} 1
`)
	families, err := metricFamilies(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := terminatedWatchesIn(families).String(), "WATCH:databases=5 WATCH:secrets=1"; got != want {
		t.Errorf("terminated watches %q, want %q", got, want)
	}
	families, err = metricFamilies([]byte("other_total 1\n"))
	if got := terminatedWatchesIn(families); err != nil || got.Total() != 0 {
		t.Errorf("terminated watches without the counter %v, %v; want none", got, err)
	}
}
