package memorylimit

import (
	"math"
	"runtime/debug"
	"testing"

	"github.com/go-logr/logr/funcr"
	"github.com/stretchr/testify/assert"
)

// TestSetSaysWhatItDid: what the environment asks for wins over the
// container's limit, and Set logs the limit in force, or why it could
// set none.
func TestSetSaysWhatItDid(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		// limit is the runtime's limit before Set, as GOMEMLIMIT
		// would have set it at start.
		limit int64
		want  string
	}{
		{
			name:  "GOMEMLIMIT wins, and is logged",
			env:   map[string]string{"GOMEMLIMIT": "100MiB"},
			limit: 100 << 20,
			want:  `"level"=0 "msg"="Go memory limit" "bytes"=104857600`,
		},
		{
			name:  "AUTOMEMLIMIT=off sets nothing",
			env:   map[string]string{"AUTOMEMLIMIT": "off"},
			limit: math.MaxInt64,
			want:  "",
		},
		{
			name:  "a ratio out of range is an error",
			env:   map[string]string{"AUTOMEMLIMIT": "2"},
			limit: math.MaxInt64,
			want:  `"msg"="Cannot set the Go memory limit from the container's memory limit" "error"="failed to set GOMEMLIMIT: invalid ratio: 2.000000, ratio should be in the range (0.0,1.0]"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			before := debug.SetMemoryLimit(tt.limit)
			t.Cleanup(func() { debug.SetMemoryLimit(before) })
			var logged string
			Set(funcr.New(func(prefix, args string) { logged += args }, funcr.Options{}))
			assert.Equal(t, tt.want, logged)
			assert.Equal(t, tt.limit, debug.SetMemoryLimit(-1), "the limit is left as it was")
		})
	}
}

// TestSetGCPercentYieldsToGOGC: GOGC in the environment wins over the
// program's percent, which applies otherwise; either is logged.
func TestSetGCPercentYieldsToGOGC(t *testing.T) {
	tests := []struct {
		name string
		// gogc is GOGC in the environment, and atStart the percent the
		// runtime took from it at start; "" says nothing (Go's 100).
		gogc    string
		atStart int
		want    int
		log     string
	}{
		{name: "no GOGC, or an empty one: the program's percent", atStart: 100, want: 50, log: `"level"=0 "msg"="Go GC percent" "percent"=50`},
		{name: "GOGC wins", gogc: "80", atStart: 80, want: 80, log: `"level"=0 "msg"="Go GC percent" "GOGC"="80"`},
		{name: "GOGC=off wins", gogc: "off", atStart: -1, want: -1, log: `"level"=0 "msg"="Go GC percent" "GOGC"="off"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("GOGC", tt.gogc)
			before := debug.SetGCPercent(tt.atStart)
			t.Cleanup(func() { debug.SetGCPercent(before) })

			var logged string
			SetGCPercent(funcr.New(func(prefix, args string) { logged += args }, funcr.Options{}), 50)
			assert.Equal(t, tt.log, logged)
			assert.Equal(t, tt.want, debug.SetGCPercent(tt.atStart), "the percent in force")
		})
	}
}
