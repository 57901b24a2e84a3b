package sync

import (
	"errors"
	"strings"
	"testing"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/stretchr/testify/assert"
)

func TestProviderName(t *testing.T) {
	const ns = "bindery-alice-5kq3n7o2xa4bq"
	long := strings.Repeat("n", 253-len(ns))
	tests := []struct {
		name      string
		o         Options
		in, want  string
		wantError error
	}{
		{name: "namespaced objects keep their names", o: Options{ClusterNamespace: ns}, in: "eu", want: "eu"},
		{name: "None keeps names", o: Options{ClusterNamespace: ns, ClusterScoped: true, Isolation: kubebindv1alpha1.IsolationNone}, in: "eu", want: "eu"},
		{name: "Prefixed prefixes the cluster namespace", o: Options{ClusterNamespace: ns, ClusterScoped: true, Isolation: kubebindv1alpha1.IsolationPrefixed}, in: "eu", want: ns + "-eu"},
		{name: "a prefixed name over 253 characters is refused for good", o: Options{ClusterNamespace: ns, ClusterScoped: true, Isolation: kubebindv1alpha1.IsolationPrefixed}, in: long, wantError: errNameTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := New(tt.o).providerName(tt.in)
			if tt.wantError != nil {
				assert.True(t, errors.Is(err, tt.wantError), "got %v", err)
				return
			}
			assert.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}
