package objectsync

import (
	"container/list"
	"sync"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/util/workqueue"
)

// The engine's work queue is client-go's, with its de-duplication, its
// one-worker-per-request guarantee, its delays and backoff, over storage
// of two FIFO lanes. Requests a provider change brings (a copy's status)
// wait in the up lane, all others in the down lane, and the lanes take
// turns: under a burst of new consumer objects a status comes back after
// a few syncs, not after every copy of the burst is created, and neither
// side can starve the other.

// newQueue is client-go's rate-limited work queue over the engine's
// lanes, named as controller-runtime names its queues, so that its
// metrics are the same.
func (e *Engine) newQueue(name string, rl workqueue.TypedRateLimiter[Request]) workqueue.TypedRateLimitingInterface[Request] {
	q := workqueue.NewTypedWithConfig(workqueue.TypedQueueConfig[Request]{Name: name, Queue: e.lanes})
	delaying := workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[Request]{Name: name, Queue: q})
	return workqueue.NewTypedRateLimitingQueueWithConfig(rl, workqueue.TypedRateLimitingQueueConfig[Request]{Name: name, DelayingQueue: delaying})
}

// The lanes, by index.
const (
	upLane = iota
	downLane
)

// lanes is a workqueue.Queue of two FIFO lanes that take turns while both
// hold requests. The work queue calls Push, Touch, Pop and Len under its
// own lock, and holds each request at most once; preferUp is called from
// event handlers, just before the request is added.
type lanes struct {
	mu sync.Mutex
	// up holds the requests to go in the up lane when next pushed or
	// touched.
	up     sets.Set[Request]
	lane   [2]*list.List
	queued map[Request]queued
	// next is the lane the next Pop takes from, if it is not empty.
	next int
}

// queued is where a request waits.
type queued struct {
	lane int
	at   *list.Element
}

var _ workqueue.Queue[Request] = &lanes{}

func newLanes() *lanes {
	return &lanes{
		up:     sets.New[Request](),
		lane:   [2]*list.List{list.New(), list.New()},
		queued: map[Request]queued{},
	}
}

// preferUp puts r in the up lane when it is next added: it is pushed
// there, or, queued in the down lane already, moved to the end of the up
// lane.
func (l *lanes) preferUp(r Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.up.Insert(r)
}

// Push appends r to its lane.
func (l *lanes) Push(r Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	to := downLane
	if l.up.Has(r) {
		l.up.Delete(r)
		to = upLane
	}
	l.queued[r] = queued{lane: to, at: l.lane[to].PushBack(r)}
}

// Touch moves r, queued already, to the up lane if it was preferred so.
func (l *lanes) Touch(r Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.up.Has(r) {
		return
	}
	l.up.Delete(r)
	if q, ok := l.queued[r]; ok && q.lane == downLane {
		l.lane[downLane].Remove(q.at)
		l.queued[r] = queued{lane: upLane, at: l.lane[upLane].PushBack(r)}
	}
}

// Len is the number of requests in both lanes.
func (l *lanes) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lane[upLane].Len() + l.lane[downLane].Len()
}

// Pop takes the first request of the lane whose turn it is, or of the
// other lane when that one is empty. The work queue calls it only when
// Len is not zero.
func (l *lanes) Pop() Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	from := l.next
	if l.lane[from].Len() == 0 {
		from = 1 - from
	}
	l.next = 1 - from
	r := l.lane[from].Remove(l.lane[from].Front()).(Request)
	delete(l.queued, r)
	return r
}
