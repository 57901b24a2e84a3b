package cmd

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConfirm: only y or yes goes ahead; any other answer, or none at
// all (no terminal), says what did not happen and how to go ahead.
func TestConfirm(t *testing.T) {
	tests := []struct {
		name, in string
		wantErr  string
	}{
		{name: "y", in: "y\n"},
		{name: "yes, in capitals, without a newline", in: "YES"},
		{name: "no", in: "n\n", wantErr: "not unbound (hint: pass --yes to go ahead without the question)"},
		{name: "anything else", in: "maybe\n", wantErr: "not unbound (hint: pass --yes"},
		{name: "an empty line", in: "\n", wantErr: "not unbound (hint: pass --yes"},
		{name: "no answer: standard input is closed", in: "", wantErr: "not unbound: no answer (hint: pass --yes where no one can answer)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := confirm(strings.NewReader(tt.in), &out, "Unbinding databases.", "not unbound")
			assert.True(t, strings.HasPrefix(out.String(), "Unbinding databases.\nContinue? [y/N] "), out.String())
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}
