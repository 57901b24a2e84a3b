package main

import (
	"context"
	"fmt"
	"os"
	"sync"
)

// runner gives the framework what it needs of a test, for a program: it
// keeps cleanups and runs them once, newest first, and turns a fatal error
// into a panic that main recovers.
type runner struct {
	ctx context.Context
	dir string

	mu       sync.Mutex
	cleanups []func()
	failed   bool
	once     sync.Once
}

// fatal is the panic value of Fatal and Fatalf.
type fatal struct{}

func (r *runner) Helper() {}

func (r *runner) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}

func (r *runner) Errorf(format string, args ...any) {
	r.mu.Lock()
	r.failed = true
	r.mu.Unlock()
	fmt.Fprintf(os.Stderr, "error: "+format+"\n", args...)
}

func (r *runner) Fatal(args ...any) {
	r.Errorf("%s", fmt.Sprint(args...))
	panic(fatal{})
}

func (r *runner) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	panic(fatal{})
}

func (r *runner) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

func (r *runner) Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
}

func (r *runner) TempDir() string {
	dir, err := os.MkdirTemp(r.dir, "tmp-")
	if err != nil {
		r.Fatalf("creating a temporary folder: %v", err)
	}
	r.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func (r *runner) Context() context.Context { return r.ctx }

// cleanup runs the cleanups, newest first, once.
func (r *runner) cleanup() {
	r.once.Do(func() {
		r.mu.Lock()
		fs := r.cleanups
		r.mu.Unlock()
		for i := len(fs) - 1; i >= 0; i-- {
			fs[i]()
		}
	})
}
