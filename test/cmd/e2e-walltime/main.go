// Command e2e-walltime turns the `go test -json` events of a test package
// into benchmark lines for hack/bench-report.sh: the package's wall time
// and, for each top-level test, the time from its start (for a parallel
// test, when it continues after the sequential ones) to the end of its
// last subtest (parallel subtests end after their parent's own body).
// The output of failed tests and the package's ok/FAIL line pass through,
// so that the report fails with the suite.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Time    time.Time
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

type span struct{ start, end time.Time }

func main() {
	spans := map[string]*span{}
	output := map[string][]string{}
	var failed []string
	status := 0
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			fmt.Println(sc.Text()) // build errors are not JSON
			continue
		}
		top, _, _ := strings.Cut(e.Test, "/")
		switch {
		case e.Test == "" && (e.Action == "pass" || e.Action == "fail"):
			if e.Action == "fail" {
				status = 1
				fmt.Printf("FAIL\t%s\t%.3fs\n", e.Package, e.Elapsed)
				continue
			}
			fmt.Printf("BenchmarkE2E-1\t1\t%.3f wall-s\n", e.Elapsed)
			fmt.Printf("ok  \t%s\t%.3fs\n", e.Package, e.Elapsed)
		case e.Test == "":
			if e.Action == "output" && !strings.HasPrefix(e.Output, "=== ") {
				output[""] = append(output[""], e.Output)
			}
		case e.Action == "run" && e.Test == top:
			spans[top] = &span{start: e.Time}
		case e.Action == "cont" && e.Test == top:
			// A parallel test starts when the sequential ones are done.
			spans[top].start = e.Time
		case e.Action == "output":
			output[top] = append(output[top], e.Output)
		case e.Action == "pass" || e.Action == "fail" || e.Action == "skip":
			if s := spans[top]; s != nil && e.Time.After(s.end) {
				s.end = e.Time
			}
			if e.Action == "fail" && e.Test == top {
				failed = append(failed, top)
			}
		}
	}
	names := make([]string, 0, len(spans))
	for n := range spans {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Printf("BenchmarkE2E/%s-1\t1\t%.2f wall-s\n", n, spans[n].end.Sub(spans[n].start).Seconds())
	}
	for _, n := range failed {
		fmt.Print(strings.Join(output[n], ""))
	}
	if len(failed) > 0 || status != 0 {
		fmt.Print(strings.Join(output[""], ""))
		os.Exit(1)
	}
}
