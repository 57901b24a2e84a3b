package cmd

import (
	"bytes"
	"testing"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/dynamic"

	"github.com/bindery-dev/bindery/cli/internal/bind"
	"github.com/bindery-dev/bindery/test/framework"
)

// BenchmarkBindAfterLogin measures kubectl bind from the provider's answer
// to a Ready binding (CRD established, konnector connected): the part of
// a bind the login does not decide. The aim is 1.5 s or less;
// upstream kube-bind's CLI took about 3.3 s in all. The provider's
// controllers are a stand-in that polls every 50 ms.
func BenchmarkBindAfterLogin(b *testing.B) {
	prov, cons, _ := bindEnv(b)
	ctx := b.Context()
	d, err := dynamic.NewForConfig(cons.Config)
	require.NoError(b, err)
	var total time.Duration
	for b.Loop() {
		start := time.Now()
		_, err := bind.Apply(ctx, response(b, prov, kubebindv1alpha1.GroupResource{Group: "db.example.com", Resource: "databases"}),
			bind.ApplyOptions{Consumer: cons.Config, Timeout: time.Minute, Out: &bytes.Buffer{}})
		require.NoError(b, err)
		total += time.Since(start)
		b.StopTimer()
		require.NoError(b, unbind(ctx, d, framework.BindingName, &unbindOptions{yes: true, timeout: time.Minute}, nil, &bytes.Buffer{}))
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s-to-ready")
	b.ReportMetric(0, "ns/op")
}
