package binding

import (
	"context"

	"github.com/bindery-dev/bindery/apis/kubeconfig"
	"github.com/bindery-dev/bindery/konnector/internal/objectsync"
	"github.com/bindery-dev/bindery/konnector/internal/provider"
)

// runningEngine is one binding's sync engine; key says what it was
// started with, so that a change of connection or version restarts it.
type runningEngine struct {
	key    string
	cancel context.CancelFunc
	done   chan struct{}
}

// startEngine starts the binding's sync engine unless one with the same
// key runs. The engine lives until stopEngine, not as long as a
// reconcile. An engine that stops on an error is forgotten, and the
// binding woken, so that its next reconcile starts a new one.
func (r *Reconciler) startEngine(name, key string, o objectsync.Options) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running == nil {
		r.running = map[string]*runningEngine{}
	}
	if cur, ok := r.running[name]; ok {
		if cur.key == key {
			return
		}
		cur.cancel()
		<-cur.done
	}
	ctx, cancel := context.WithCancel(context.Background())
	rs := &runningEngine{key: key, cancel: cancel, done: make(chan struct{})}
	r.running[name] = rs
	go func() {
		defer close(rs.done)
		err := objectsync.New(o).Run(ctx)
		if err == nil || ctx.Err() != nil {
			return
		}
		o.Log.Error(err, "Sync engine stopped; starting a new one")
		r.mu.Lock()
		if r.running[name] == rs {
			delete(r.running, name)
		}
		r.mu.Unlock()
		r.wakeUp(name)
	}()
}

// stopEngine stops the binding's sync engine and waits until it has
// stopped; with forget, it also drops the binding's provider connection.
func (r *Reconciler) stopEngine(name string, forget bool) {
	r.mu.Lock()
	cur, ok := r.running[name]
	delete(r.running, name)
	if forget {
		delete(r.conns, name)
	}
	r.mu.Unlock()
	if ok {
		cur.cancel()
		<-cur.done
	}
}

// Running returns how many sync engines run, for tests and metrics.
func (r *Reconciler) Running() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.running)
}

// StopAll stops every sync engine; the manager calls it on shutdown.
func (r *Reconciler) StopAll() {
	r.mu.Lock()
	names := make([]string, 0, len(r.running))
	for n := range r.running {
		names = append(names, n)
	}
	r.mu.Unlock()
	for _, n := range names {
		r.stopEngine(n, true)
	}
}

// connect returns the binding's provider connection, reusing the last one
// while the kubeconfig is unchanged, so that a reconcile does not build
// new clients (and rediscover the provider's API) every time.
func (r *Reconciler) connect(binding string, raw []byte, o kubeconfig.ProviderOptions) (*provider.Conn, error) {
	id := provider.ID(raw, o)
	r.mu.Lock()
	cur, ok := r.conns[binding]
	r.mu.Unlock()
	if ok && cur.ID == id {
		return cur, nil
	}
	conn, err := provider.Connect(raw, o, r.Limits)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.conns == nil {
		r.conns = map[string]*provider.Conn{}
	}
	r.conns[binding] = conn
	r.mu.Unlock()
	return conn, nil
}
