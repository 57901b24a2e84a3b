package options

import (
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestControllers(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "defaults are valid"},
		{name: "empty pretty name", args: []string{"--provider-pretty-name="}, wantErr: "--provider-pretty-name must not be empty"},
		{name: "too short sync period", args: []string{"--sync-period=1s"}, wantErr: "--sync-period must be at least 1m"},
		{name: "too short heartbeat interval", args: []string{"--heartbeat-interval=100ms"}, wantErr: "--heartbeat-interval must be at least 1s"},
		{name: "leader election without id", args: []string{"--leader-election-id="}, wantErr: "--leader-election-id must not be empty"},
		{name: "no leader election needs no id", args: []string{"--leader-elect=false", "--leader-election-id="}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := NewControllers()
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			o.AddFlags(fs)
			require.NoError(t, fs.Parse(tt.args))
			err := o.Validate()
			if tt.wantErr == "" {
				assert.NoError(t, err)
				assert.Equal(t, 10*time.Hour, o.SyncPeriod)
				return
			}
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}
