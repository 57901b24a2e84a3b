package cmd

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// confirm prints what is about to happen and asks to continue; only "y"
// or "yes" goes ahead. Any other answer, or none (no terminal), returns
// refused, saying how to go ahead without the question.
func confirm(in io.Reader, out io.Writer, what, refused string) error {
	fmt.Fprintf(out, "%s\nContinue? [y/N] ", what) //nolint:errcheck
	line, err := bufio.NewReader(in).ReadString('\n')
	switch a := strings.ToLower(strings.TrimSpace(line)); {
	case a == "y" || a == "yes":
		return nil
	case a == "" && err != nil:
		fmt.Fprintln(out) //nolint:errcheck
		return fmt.Errorf("%s: no answer (hint: pass --yes where no one can answer)", refused)
	}
	return fmt.Errorf("%s (hint: pass --yes to go ahead without the question)", refused)
}
