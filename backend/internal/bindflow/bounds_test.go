package bindflow_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindery-dev/bindery/apis/bindprotocol"
	"github.com/bindery-dev/bindery/backend/internal/onboarding"
	"github.com/bindery-dev/bindery/backend/internal/scheme"
)

// TestBounds checks that what one user can make the provider create is
// bounded: new consumer clusters per minute, and, through each cluster
// namespace's ResourceQuota, the APIServiceNamespaces (each a namespace
// and grants) and requests a consumer creates; Events, which no quota
// counts, it may not create at all.
func TestBounds(t *testing.T) {
	t.Parallel()
	e := setup(t, func(e *env) { e.newClustersPerMinute = 2 })
	ctx := t.Context()
	key := bindprotocol.ClusterKey(bindprotocol.NewSecret(), e.External+"/authorize")
	logins := 0
	bindCluster := func(t *testing.T, cluster string) (int, []byte) {
		t.Helper()
		cb := startCLI(t)
		logins++
		l := newCodeLogin(cb, fmt.Sprintf("bounds-%d", logins), cluster)
		q := e.bindForCode(t, cb, l, "alice")
		return e.exchange(t, bindprotocol.ExchangeRequest{Code: q.Get(bindprotocol.CodeParam), Verifier: l.verifier, ClusterKey: key})
	}

	var kubeconfig []byte
	t.Run("new clusters per user and minute", func(t *testing.T) {
		for _, c := range []string{"b1", "b2"} {
			status, body := bindCluster(t, c)
			require.Equal(t, http.StatusOK, status, string(body))
			if kubeconfig == nil {
				kubeconfig = body
			}
		}
		status, body := bindCluster(t, "b3")
		assert.Equal(t, http.StatusTooManyRequests, status)
		assert.Contains(t, string(body), "Too many new clusters")
		status, body = bindCluster(t, "b1")
		assert.Equal(t, http.StatusOK, status, "a cluster already onboarded binds again: %s", body)
	})

	t.Run("a consumer's APIServiceNamespaces are bounded by its quota", func(t *testing.T) {
		br := &kubebindv1alpha1.BindingResponse{}
		require.NoError(t, json.Unmarshal(kubeconfig, br))
		cfg, err := clientcmd.RESTConfigFromKubeConfig(br.Kubeconfig)
		require.NoError(t, err)
		cfg.QPS, cfg.Burst = 500, 1000
		kc, err := clientcmd.Load(br.Kubeconfig)
		require.NoError(t, err)
		ns := kc.Contexts[kc.CurrentContext].Namespace
		c, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
		require.NoError(t, err)
		limit := onboarding.Quota["count/apiservicenamespaces.kube-bind.io"]
		for i := range int(limit.Value()) {
			require.NoError(t, c.Create(ctx, &kubebindv1alpha1.APIServiceNamespace{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("ns-%03d", i)}}))
		}
		err = c.Create(ctx, &kubebindv1alpha1.APIServiceNamespace{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "one-too-many"}})
		require.Error(t, err)
		assert.True(t, apierrors.IsForbidden(err), "%v", err)
		assert.Contains(t, err.Error(), "exceeded quota")

		// Events, which a ResourceQuota does not count, are not granted.
		err = c.Create(ctx, &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Namespace: ns, Name: "spam"},
			InvolvedObject: corev1.ObjectReference{Kind: "ClusterBinding", Namespace: ns, Name: "cluster"},
			Reason:         "Spam", Message: "unbounded", Type: corev1.EventTypeNormal,
		})
		assert.True(t, apierrors.IsForbidden(err), "a konnector records no Events on the provider: %v", err)
	})
}
