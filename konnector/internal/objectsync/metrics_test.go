package objectsync

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
)

func TestMetricsGoWithTheLastEngineOfABinding(t *testing.T) {
	const binding = "metrics-test.example.com"
	series := func() int { return testutil.CollectAndCount(SyncedObjects) }
	before := series()

	first := holdMetrics(binding)
	SyncedObjects.WithLabelValues(binding).Set(3)
	second := holdMetrics(binding) // a restart: the new engine starts first
	first()
	assert.Equal(t, before+1, series(), "a binding's series stay while one of its engines runs")
	assert.InDelta(t, 3, testutil.ToFloat64(SyncedObjects.WithLabelValues(binding)), 0)

	second()
	assert.Equal(t, before, series(), "the last engine's stop removes the binding's series")
}
