package objectsync

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// TestLanesTakeTurns drives client-go's work queue over lanes: requests a
// provider change brings (up) take turns with the others (down), each lane
// in order, marks go when neither holds requests, and the queue still
// holds each request once.
func TestLanesTakeTurns(t *testing.T) {
	type add struct {
		name string
		// prefer is what the request is preferred for before it is
		// added: "up", "mark", "up+mark" (up, then mark), or nothing.
		prefer string
	}
	tests := []struct {
		name string
		adds []add
		want []string
	}{
		{
			name: "one lane is plain FIFO",
			adds: []add{{"a", ""}, {"b", ""}, {"c", ""}},
			want: []string{"a", "b", "c"},
		},
		{
			name: "an up request waits for at most one down request",
			adds: []add{{"a", ""}, {"b", ""}, {"c", ""}, {"s1", "up"}, {"s2", "up"}},
			want: []string{"s1", "a", "s2", "b", "c"},
		},
		{
			name: "a queued down request moves to the end of the up lane",
			adds: []add{{"a", ""}, {"b", ""}, {"c", ""}, {"s", "up"}, {"c", "up"}},
			want: []string{"s", "a", "c", "b"},
		},
		{
			name: "adding a queued request again without a provider change keeps its place",
			adds: []add{{"a", ""}, {"s", "up"}, {"s", ""}, {"a", ""}},
			want: []string{"s", "a"},
		},
		{
			name: "an up request queued already stays in the up lane",
			adds: []add{{"s", "up"}, {"a", ""}, {"s", "up"}},
			want: []string{"s", "a"},
		},
		{
			name: "marks wait until neither other lane holds requests",
			adds: []add{{"m1", "mark"}, {"a", ""}, {"m2", "mark"}, {"b", ""}, {"s", "up"}},
			want: []string{"s", "a", "b", "m1", "m2"},
		},
		{
			name: "a queued mark whose object changes moves to the end of the down lane",
			adds: []add{{"m", "mark"}, {"a", ""}, {"m", ""}, {"s1", "up"}, {"s2", "up"}, {"s3", "up"}},
			want: []string{"s1", "a", "s2", "m", "s3"},
		},
		{
			name: "a queued mark whose copy changes moves to the end of the up lane",
			adds: []add{{"m", "mark"}, {"a", ""}, {"b", ""}, {"s", "up"}, {"m", "up"}},
			want: []string{"s", "a", "m", "b"},
		},
		{
			name: "a request queued already keeps its place when preferred for a mark",
			adds: []add{{"a", ""}, {"b", ""}, {"a", "mark"}, {"s", "up"}, {"s", "mark"}},
			want: []string{"s", "a", "b"},
		},
		{
			name: "up wins over a mark",
			adds: []add{{"a", ""}, {"b", ""}, {"m", "up+mark"}},
			want: []string{"m", "a", "b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLanes()
			q := workqueue.NewTypedWithConfig(workqueue.TypedQueueConfig[Request]{Queue: l})
			defer q.ShutDown()
			for _, a := range tt.adds {
				r := objectRequest(cache.NewObjectName("ns", a.name))
				switch a.prefer {
				case "up":
					l.preferUp(r)
				case "mark":
					l.preferMark(r)
				case "up+mark":
					l.preferUp(r)
					l.preferMark(r)
				}
				q.Add(r)
			}
			assert.Equal(t, tt.want, drain(q))
		})
	}
}

// TestMarksAreNotStarved: while the other lanes always hold requests, a
// mark still goes, at the markEvery-th request.
func TestMarksAreNotStarved(t *testing.T) {
	l := newLanes()
	q := workqueue.NewTypedWithConfig(workqueue.TypedQueueConfig[Request]{Queue: l})
	defer q.ShutDown()
	m := objectRequest(cache.NewObjectName("ns", "m"))
	l.preferMark(m)
	q.Add(m)
	for i := range 2 * markEvery {
		q.Add(objectRequest(cache.NewObjectName("ns", fmt.Sprint("d", i))))
		r := objectRequest(cache.NewObjectName("ns", fmt.Sprint("u", i)))
		l.preferUp(r)
		q.Add(r)
	}
	got := drain(q)
	assert.Equal(t, "m", got[markEvery-1])
	assert.Len(t, got, 4*markEvery+1)
}

// drain takes every request from q, in order, and returns their names.
func drain(q workqueue.TypedInterface[Request]) []string {
	var got []string
	for q.Len() > 0 {
		r, _ := q.Get()
		got = append(got, r.Object.Name)
		q.Done(r)
	}
	return got
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

	assert.Equal(t, []string{"a", "b", "c"}, drain(q), "a, back in the up lane, goes first")
}
