package framework

import "context"

// TB is what the framework needs of its caller: TB has it, and so
// does a program that starts clusters outside `go test`, such as the demo.
type TB interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Failed() bool
	Logf(format string, args ...any)
	TempDir() string
	Context() context.Context
}
