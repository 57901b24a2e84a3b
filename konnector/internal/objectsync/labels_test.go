package objectsync

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestUserMetadata(t *testing.T) {
	in := map[string]string{
		"team":                        "shop",
		"app.kubernetes.io/name":      "orders",
		"kubernetes.io/metadata.name": "x",
		"kubectl.kubernetes.io/last-applied-configuration": "{}",
		"bindery.dev/orphan":        "true",
		"kube-bind.io/owner":        "x",
		"meta.helm.sh/release-name": "r",
		"example.com/custom":        "y",
	}
	assert.Equal(t, map[string]string{
		"team":                   "shop",
		"app.kubernetes.io/name": "orders",
		"example.com/custom":     "y",
	}, userMetadata(in))
}

func TestEqualJSON(t *testing.T) {
	tests := []struct {
		a, b any
		want bool
	}{
		{map[string]any{"n": int64(1)}, map[string]any{"n": float64(1)}, true},
		{map[string]any{"n": int64(1)}, map[string]any{"n": int64(2)}, false},
		{nil, nil, true},
		{map[string]any{}, nil, false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, equalJSON(tt.a, tt.b), "%v vs %v", tt.a, tt.b)
	}
}
