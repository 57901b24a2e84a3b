// Package lazylog gives a logr.Logger whose names and values are handed
// to its sink only when a line is logged.
//
// controller-runtime adds a reconcile ID to the logger of every
// reconcile. zap encodes the values a logger is given at once, into a
// buffer of its own, so each reconcile of the konnector's sync engine
// copied the logger and allocated a buffer for a line that, at the
// default verbosity, is never written: about a tenth of what the
// konnector allocated during a burst. A logger of this package keeps the
// names and values, and gives them to the sink it wraps when a line is
// written, in the order they were given.
package lazylog

import (
	"slices"

	"github.com/go-logr/logr"
)

// New returns l with names and values kept until a line is written.
// Values are formatted when a line is written, not when they are given.
func New(l logr.Logger) logr.Logger {
	base := l.GetSink()
	if base == nil {
		return l
	}
	if cd, ok := base.(logr.CallDepthLogSink); ok {
		base = cd.WithCallDepth(1) // this package's Info and Error
	}
	return logr.New(&sink{base: base}).V(l.GetV())
}

// with is a name (isName) or values given to a logger.
type with struct {
	isName bool
	name   string
	values []any
}

type sink struct {
	base logr.LogSink
	with []with
}

// Init does nothing: the sink New wraps is initialized already.
func (s *sink) Init(logr.RuntimeInfo) {}

func (s *sink) Enabled(level int) bool { return s.base.Enabled(level) }

func (s *sink) Info(level int, msg string, keysAndValues ...any) {
	s.resolve().Info(level, msg, keysAndValues...)
}

func (s *sink) Error(err error, msg string, keysAndValues ...any) {
	s.resolve().Error(err, msg, keysAndValues...)
}

func (s *sink) WithValues(keysAndValues ...any) logr.LogSink {
	return s.and(with{values: slices.Clone(keysAndValues)})
}

func (s *sink) WithName(name string) logr.LogSink {
	return s.and(with{isName: true, name: name})
}

// WithCallDepth lets logr.Logger.WithCallDepth, and New of a logger of
// this package, name the right caller.
func (s *sink) WithCallDepth(depth int) logr.LogSink {
	cd, ok := s.base.(logr.CallDepthLogSink)
	if !ok {
		return s
	}
	return &sink{base: cd.WithCallDepth(depth), with: s.with}
}

func (s *sink) and(w with) *sink {
	return &sink{base: s.base, with: append(slices.Clip(s.with), w)}
}

// resolve gives the wrapped sink the names and values, in order.
func (s *sink) resolve() logr.LogSink {
	b := s.base
	for _, w := range s.with {
		if w.isName {
			b = b.WithName(w.name)
		} else {
			b = b.WithValues(w.values...)
		}
	}
	return b
}
