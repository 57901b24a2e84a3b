package exportrequest

import (
	"testing"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	conditionsapi "github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/apis/conditions/v1alpha1"
	"github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/util/conditions"
	"github.com/stretchr/testify/assert"
)

func TestWaitsFor(t *testing.T) {
	const msg = "waiting for the grant"
	pending := func(reason, message string) *kubebindv1alpha1.APIServiceExportRequest {
		r := &kubebindv1alpha1.APIServiceExportRequest{}
		r.Status.Phase = kubebindv1alpha1.APIServiceExportRequestPhasePending
		conditions.MarkFalse(r, kubebindv1alpha1.APIServiceExportRequestConditionExportsReady, reason, conditionsapi.ConditionSeverityInfo, "%s", message)
		return r
	}
	failed := pending(reasonWaiting, msg)
	failed.Status.Phase = kubebindv1alpha1.APIServiceExportRequestPhaseFailed

	tests := []struct {
		name    string
		request *kubebindv1alpha1.APIServiceExportRequest
		want    bool
	}{
		{"a new request", &kubebindv1alpha1.APIServiceExportRequest{}, false},
		{"waiting for the same", pending(reasonWaiting, msg), true},
		{"waiting for something else", pending(reasonWaiting, "waiting for the CRD"), false},
		{"pending for another reason", pending("Other", msg), false},
		{"not pending", failed, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, waitsFor(tt.request, msg))
		})
	}
}
