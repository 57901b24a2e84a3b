package requestmetrics

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

func TestInstrumentTimesRequestsButNotWatches(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	cfg := &rest.Config{Host: srv.URL}
	Instrument(cfg, "provider")
	rt, err := rest.TransportFor(cfg)
	require.NoError(t, err)

	tests := []struct {
		method, query string
		wantCounted   bool
	}{
		{http.MethodGet, "", true},
		{http.MethodPatch, "fieldManager=bindery-konnector", true},
		{http.MethodGet, "watch=true&resourceVersion=1", false},
	}
	for _, tt := range tests {
		samples := func() uint64 { return histogramCount(t, "provider", strings.ToLower(tt.method)) }
		n := samples()
		req, err := http.NewRequest(tt.method, srv.URL+"/apis/db.example.com/v1/databases?"+tt.query, nil)
		require.NoError(t, err)
		resp, err := rt.RoundTrip(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		if tt.wantCounted {
			assert.Equal(t, n+1, samples(), "%s %s is timed", tt.method, tt.query)
		} else {
			assert.Equal(t, n, samples(), "%s %s is not timed", tt.method, tt.query)
		}
	}
}

func histogramCount(t *testing.T, cluster, method string) uint64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != "bindery_konnector_api_request_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["cluster"] == cluster && labels["method"] == method {
				return m.GetHistogram().GetSampleCount()
			}
		}
	}
	return 0
}
