package lazylog

import (
	"errors"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/google/go-cmp/cmp"
)

// written returns a logger that appends each line it writes, with its
// caller, to lines.
func written(lines *[]string) logr.Logger {
	return funcr.NewJSON(func(obj string) { *lines = append(*lines, obj) },
		funcr.Options{LogCaller: funcr.All, Verbosity: 1})
}

// TestWritesWhatTheSinkWould writes the same lines through a logger and
// through New of it, and wants the same output: names, values in order,
// levels and the caller.
func TestWritesWhatTheSinkWould(t *testing.T) {
	tests := []struct {
		name string
		log  func(logr.Logger)
	}{
		{"plain", func(l logr.Logger) { l.Info("synced", "object", "ns/a") }},
		{"values", func(l logr.Logger) { l.WithValues("reconcileID", "1").Info("synced", "n", 2) }},
		{"names and values in order", func(l logr.Logger) {
			l.WithName("sync").WithValues("a", 1).WithName("db").WithValues("b", 2).Info("synced")
		}},
		{"branches", func(l logr.Logger) {
			base := l.WithValues("a", 1)
			base.WithValues("b", 2).Info("one")
			base.WithValues("c", 3).Info("two")
			base.Info("three")
		}},
		{"error", func(l logr.Logger) { l.WithValues("a", 1).Error(errors.New("boom"), "failed", "b", 2) }},
		{"verbosity", func(l logr.Logger) {
			l.V(1).WithValues("a", 1).Info("shown")
			l.WithValues("a", 1).V(2).Info("hidden")
		}},
		{"a helper's caller", func(l logr.Logger) { logFromHelper(l.WithValues("a", 1)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want, got []string
			tt.log(written(&want))
			tt.log(New(written(&got)))
			if len(want) == 0 {
				t.Fatal("the test writes nothing")
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("written differently (-sink +lazylog):\n%s", diff)
			}
		})
	}
	// A logger made with New, and the same logger without it.
	wrapped := []struct {
		name      string
		sink, new func(logr.Logger) logr.Logger
	}{
		{"a verbose logger",
			func(l logr.Logger) logr.Logger { return l.V(1) },
			func(l logr.Logger) logr.Logger { return New(l.V(1)) }},
		{"wrapped twice",
			func(l logr.Logger) logr.Logger { return l.WithValues("a", 1).WithValues("b", 2) },
			func(l logr.Logger) logr.Logger { return New(New(l.WithValues("a", 1)).WithValues("b", 2)) }},
	}
	for _, tt := range wrapped {
		t.Run(tt.name, func(t *testing.T) {
			var want, got []string
			logLine(tt.sink(written(&want)))
			logLine(tt.new(written(&got)))
			if diff := cmp.Diff(want, got); diff != "" || len(want) != 1 {
				t.Errorf("written differently (-sink +lazylog):\n%s", diff)
			}
		})
	}
}

func logFromHelper(l logr.Logger) { l.WithCallDepth(1).Info("from a helper") }

func logLine(l logr.Logger) { l.Info("line", "k", "v") }

// counting counts the names and values its sink is given.
type counting struct {
	logr.LogSink
	with *int
}

func (c counting) WithValues(kv ...any) logr.LogSink {
	*c.with++
	return counting{c.LogSink.WithValues(kv...), c.with}
}

func (c counting) WithName(name string) logr.LogSink {
	*c.with++
	return counting{c.LogSink.WithName(name), c.with}
}

// TestGivesValuesOnlyToLinesWritten wants the wrapped sink to see no
// names or values until a line is written.
func TestGivesValuesOnlyToLinesWritten(t *testing.T) {
	var lines []string
	with := 0
	l := New(logr.New(counting{written(&lines).GetSink(), &with}))
	r := l.WithName("sync").WithValues("reconcileID", "1")
	r.V(3).Info("not written")
	if with != 0 {
		t.Fatalf("the sink was given names or values %d times before any line", with)
	}
	r.Info("written")
	if with != 2 || len(lines) != 1 {
		t.Fatalf("the sink was given names or values %d times and wrote %d lines, want 2 and 1", with, len(lines))
	}
}
