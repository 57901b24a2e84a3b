package objectsync

import (
	"container/list"
	"sync"

	"k8s.io/client-go/util/workqueue"
)

// The engine's work queue is client-go's, with its de-duplication, its
// one-worker-per-request guarantee, its delays and backoff, over storage
// of three FIFO lanes. Requests a provider change brings (a copy's status)
// wait in the up lane, the record of a new object's sync that follows its
// first status (the mark) in the mark lane, all others in the down lane.
// The up and down lanes take turns: under a burst of new consumer objects
// a status comes back after a few syncs, not after every copy of the
// burst is created, and neither side can starve the other. Marks, which
// neither a copy nor a status waits for, go when the other lanes are
// empty, and at every markEvery-th request, so that they are never
// starved; under a burst they mostly wait for its end.

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
	markLane
)

// markEvery is how often the mark lane goes while the others hold
// requests: one request in markEvery.
const markEvery = 32

// lanes is a workqueue.Queue of three FIFO lanes. The work queue calls
// Push, Touch, Pop and Len under its own lock, and holds each request at
// most once; preferUp and preferMark are called just before the request
// is added.
type lanes struct {
	mu sync.Mutex
	// preferred is the lane a request goes to when next pushed or
	// touched, if not the down lane.
	preferred map[Request]int
	lane      [3]*list.List
	queued    map[Request]queued
	// next is the lane of up and down the next Pop takes from, if it is
	// not empty.
	next int
	// pops counts Pop calls, for the mark lane's turns.
	pops int
}

// queued is where a request waits.
type queued struct {
	lane int
	at   *list.Element
}

var _ workqueue.Queue[Request] = &lanes{}

func newLanes() *lanes {
	return &lanes{
		preferred: map[Request]int{},
		lane:      [3]*list.List{list.New(), list.New(), list.New()},
		queued:    map[Request]queued{},
	}
}

// preferUp puts r in the up lane when it is next added: it is pushed
// there, or, queued in another lane already, moved to the end of the up
// lane.
func (l *lanes) preferUp(r Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.preferred[r] = upLane
}

// preferMark puts r in the mark lane when it is next pushed, unless it
// is preferred up: its next sync only records the sync. Queued already,
// it keeps its place.
func (l *lanes) preferMark(r Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, up := l.preferred[r]; !up {
		l.preferred[r] = markLane
	}
}

// Push appends r to its lane.
func (l *lanes) Push(r Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	to, ok := l.preferred[r]
	if !ok {
		to = downLane
	}
	delete(l.preferred, r)
	l.queued[r] = queued{lane: to, at: l.lane[to].PushBack(r)}
}

// Touch moves r, queued already and added again, to the end of the up
// lane if it is preferred so, and from the mark lane to the end of the
// down lane if it is not preferred at all: something other than the
// mark changed.
func (l *lanes) Touch(r Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	to, ok := l.preferred[r]
	delete(l.preferred, r)
	q, queuedNow := l.queued[r]
	if !queuedNow {
		return
	}
	switch {
	case ok && to == upLane && q.lane != upLane:
		l.move(r, q, upLane)
	case !ok && q.lane == markLane:
		l.move(r, q, downLane)
	}
}

// move moves r from where it is queued, q, to the end of lane to.
func (l *lanes) move(r Request, q queued, to int) {
	l.lane[q.lane].Remove(q.at)
	l.queued[r] = queued{lane: to, at: l.lane[to].PushBack(r)}
}

// Len is the number of requests in all lanes.
func (l *lanes) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lane[upLane].Len() + l.lane[downLane].Len() + l.lane[markLane].Len()
}

// Pop takes the first request of the lane whose turn it is. The work
// queue calls it only when Len is not zero.
func (l *lanes) Pop() Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	from := l.turn()
	r := l.lane[from].Remove(l.lane[from].Front()).(Request)
	delete(l.queued, r)
	return r
}

// turn is the lane the next request comes from: the mark lane at every
// markEvery-th Pop, or when it alone holds requests; otherwise the up or
// down lane, taking turns, or the other one when that one is empty.
func (l *lanes) turn() int {
	l.pops++
	if l.lane[markLane].Len() > 0 && l.pops%markEvery == 0 {
		return markLane
	}
	from := l.next
	if l.lane[from].Len() == 0 {
		from = 1 - from
	}
	if l.lane[from].Len() == 0 {
		return markLane
	}
	l.next = 1 - from
	return from
}
