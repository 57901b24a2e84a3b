package objectsync

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// TestLanesTakeTurns drives client-go's work queue over lanes: requests a
// provider change brings (up) take turns with the others (down), each lane
// in order, and the queue still holds each request once.
func TestLanesTakeTurns(t *testing.T) {
	type add struct {
		name string
		up   bool
	}
	tests := []struct {
		name string
		adds []add
		want []string
	}{
		{
			name: "one lane is plain FIFO",
			adds: []add{{"a", false}, {"b", false}, {"c", false}},
			want: []string{"a", "b", "c"},
		},
		{
			name: "an up request waits for at most one down request",
			adds: []add{{"a", false}, {"b", false}, {"c", false}, {"s1", true}, {"s2", true}},
			want: []string{"s1", "a", "s2", "b", "c"},
		},
		{
			name: "a queued down request moves to the end of the up lane",
			adds: []add{{"a", false}, {"b", false}, {"c", false}, {"s", true}, {"c", true}},
			want: []string{"s", "a", "c", "b"},
		},
		{
			name: "adding a queued request again without a provider change keeps its place",
			adds: []add{{"a", false}, {"s", true}, {"s", false}, {"a", false}},
			want: []string{"s", "a"},
		},
		{
			name: "an up request queued already stays in the up lane",
			adds: []add{{"s", true}, {"a", false}, {"s", true}},
			want: []string{"s", "a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLanes()
			q := workqueue.NewTypedWithConfig(workqueue.TypedQueueConfig[Request]{Queue: l})
			defer q.ShutDown()
			for _, a := range tt.adds {
				r := objectRequest(cache.NewObjectName("ns", a.name))
				if a.up {
					l.preferUp(r)
				}
				q.Add(r)
			}
			var got []string
			for q.Len() > 0 {
				r, _ := q.Get()
				got = append(got, r.Object.Name)
				q.Done(r)
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestLanesWhileProcessing: a provider change to a request a worker
// holds queues it again, in the up lane, once the worker is done; the
// worker's own request never runs twice at once.
func TestLanesWhileProcessing(t *testing.T) {
	l := newLanes()
	q := workqueue.NewTypedWithConfig(workqueue.TypedQueueConfig[Request]{Queue: l})
	defer q.ShutDown()
	a, b, c := objectRequest(cache.NewObjectName("ns", "a")), objectRequest(cache.NewObjectName("ns", "b")), objectRequest(cache.NewObjectName("ns", "c"))
	q.Add(a)
	q.Add(b)
	q.Add(c)
	held, _ := q.Get()
	assert.Equal(t, a, held)

	l.preferUp(a)
	q.Add(a)
	assert.Equal(t, 2, q.Len(), "a runs: it is not queued a second time")
	q.Done(a)

	var got []Request
	for q.Len() > 0 {
		r, _ := q.Get()
		got = append(got, r)
		q.Done(r)
	}
	assert.Equal(t, []Request{a, b, c}, got, "a, back in the up lane, goes first")
}
