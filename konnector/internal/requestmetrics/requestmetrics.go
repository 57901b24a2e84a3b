// Package requestmetrics times the konnector's requests to each cluster,
// so that its metrics show how much of a sync is spent waiting on the
// consumer's and the provider's API servers.
package requestmetrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/rest"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Duration is the round trip of each request but watches, by cluster
// ("consumer" or "provider") and HTTP method.
var Duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "bindery_konnector_api_request_duration_seconds",
	Help:    "Round trips of the konnector's requests to the API servers (watches left out), by cluster (consumer, provider) and HTTP method.",
	Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
}, []string{"cluster", "method"})

func init() {
	ctrlmetrics.Registry.MustRegister(Duration)
}

// Instrument makes the clients built from cfg report their requests to
// Duration under cluster.
func Instrument(cfg *rest.Config, cluster string) {
	observe := Duration.MustCurryWith(prometheus.Labels{"cluster": cluster})
	cfg.Wrap(func(next http.RoundTripper) http.RoundTripper {
		timed := promhttp.InstrumentRoundTripperDuration(observe, next)
		return promhttp.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
			if req.URL.Query().Get("watch") == "true" {
				return next.RoundTrip(req) // lasts as long as the watch
			}
			return timed.RoundTrip(req)
		})
	})
}
