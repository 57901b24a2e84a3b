package objectsync

import (
	gosync "sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metrics, served on the konnector's controller-runtime metrics endpoint.
// Each binding's work queue also reports the standard workqueue_* metrics
// (depth, queue and work durations, retries) under the name
// "sync-<binding>".
var (
	// SyncLatency is the time from seeing a change to writing it to the
	// other cluster: direction "down" ends with the provider write, "up"
	// with the consumer status write.
	SyncLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "bindery_konnector_sync_latency_seconds",
		Help:    "Time from seeing a change to writing it to the other cluster, by binding and direction (down: consumer to provider, up: status to consumer).",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"binding", "direction"})
	// SyncErrors counts failed syncs, which are retried with backoff.
	SyncErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bindery_konnector_sync_errors_total",
		Help: "Failed syncs of one object, by binding; each is retried with backoff.",
	}, []string{"binding"})
	// SyncedObjects is the number of consumer objects whose provider copy
	// is up to date.
	SyncedObjects = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "bindery_konnector_synced_objects",
		Help: "Consumer objects whose provider copy is up to date, by binding.",
	}, []string{"binding"})
	// ProviderWrites counts writes to the provider by binding and verb.
	ProviderWrites = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bindery_konnector_provider_writes_total",
		Help: "Writes to the provider cluster, by binding and verb (create, apply, delete).",
	}, []string{"binding", "verb"})
)

func init() {
	ctrlmetrics.Registry.MustRegister(SyncLatency, SyncErrors, SyncedObjects, ProviderWrites)
}

// running counts the running engines of each binding. An engine that
// restarts for its binding may start before the one it replaces has
// stopped, and tests run engines of one binding name side by side.
var running = struct {
	gosync.Mutex
	engines map[string]int
}{engines: map[string]int{}}

// holdMetrics counts one more running engine of binding; the release it
// returns removes the binding's series once its last engine stops, so
// that unbinding leaves no stale ones behind.
func holdMetrics(binding string) (release func()) {
	running.Lock()
	defer running.Unlock()
	running.engines[binding]++
	return func() {
		running.Lock()
		defer running.Unlock()
		if running.engines[binding]--; running.engines[binding] > 0 {
			return
		}
		delete(running.engines, binding)
		SyncLatency.DeletePartialMatch(prometheus.Labels{"binding": binding})
		SyncErrors.DeleteLabelValues(binding)
		SyncedObjects.DeleteLabelValues(binding)
		ProviderWrites.DeletePartialMatch(prometheus.Labels{"binding": binding})
	}
}

// tracker remembers when a key's pending change was first seen.
type tracker struct {
	mu   gosync.Mutex
	seen map[string]time.Time
}

func newTracker() *tracker { return &tracker{seen: map[string]time.Time{}} }

// observe records that a change of key was seen now, unless an earlier
// one is still pending.
func (t *tracker) observe(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.seen[key]; !ok {
		t.seen[key] = time.Now()
	}
}

// since returns how long ago key's pending change was seen, and forgets it.
func (t *tracker) since(key string) (time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	at, ok := t.seen[key]
	delete(t.seen, key)
	return time.Since(at), ok
}

// forgetBefore forgets key's pending change if it was seen before t: a
// sync that started at t has handled it.
func (t *tracker) forgetBefore(key string, before time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if at, ok := t.seen[key]; ok && at.Before(before) {
		delete(t.seen, key)
	}
}

// syncedSet is the set of objects in sync.
type syncedSet struct {
	mu   gosync.Mutex
	keys map[string]struct{}
}

// set marks key in sync or not and returns how many are.
func (s *syncedSet) set(key string, ok bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys == nil {
		s.keys = map[string]struct{}{}
	}
	if ok {
		s.keys[key] = struct{}{}
	} else {
		delete(s.keys, key)
	}
	return len(s.keys)
}
