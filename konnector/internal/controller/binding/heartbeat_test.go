package binding_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/bindery-dev/bindery/konnector/internal/controller/binding"
	"github.com/bindery-dev/bindery/test/framework"
)

// TestHeartbeatAndRotatedCredentials: the konnector heartbeats at the
// interval the provider asks for in its ClusterBinding, and picks up a
// kubeconfig the provider renews in the Secret the ClusterBinding names,
// without a restart, but never a broken one.
func TestHeartbeatAndRotatedCredentials(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	waitCondition(t, e.cc, e.binding.Name, "Ready", corev1.ConditionTrue, "")
	cbKey := client.ObjectKey{Namespace: clusterNS, Name: "cluster"}

	t.Run("the requested heartbeat interval is used", func(t *testing.T) {
		cb := &kubebindv1alpha1.ClusterBinding{}
		require.NoError(t, e.pc.Get(ctx, cbKey, cb))
		cb.Spec.ServiceProviderSpec = runtime.RawExtension{Raw: []byte(`{"heartbeatInterval":"2s"}`)}
		require.NoError(t, e.pc.Update(ctx, cb))
		var beats []time.Time
		framework.Eventually(t, func() (bool, string) {
			require.NoError(t, e.pc.Get(ctx, cbKey, cb))
			if at := cb.Status.LastHeartbeatTime.Time; cb.Status.HeartbeatInterval.Duration == 2*time.Second &&
				(len(beats) == 0 || at.After(beats[len(beats)-1])) {
				beats = append(beats, at)
			}
			return len(beats) >= 3, fmt.Sprintf("interval %s, %d heartbeats at 2s", cb.Status.HeartbeatInterval.Duration, len(beats))
		}, framework.WaitTimeout)
		// The default here is 10s, a beat every 5s; the requested 2s
		// gives one every second or two.
		assert.Less(t, beats[2].Sub(beats[1]), 5*time.Second)
	})

	consumerSecret := func() []byte {
		s := &corev1.Secret{}
		require.NoError(t, e.cc.Get(ctx, client.ObjectKey{Namespace: "kube-bind", Name: "provider-kubeconfig"}, s))
		return s.Data["kubeconfig"]
	}
	renew := func(data []byte) {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: clusterNS, Name: "kubeconfig"}}
		_, err := controllerutil.CreateOrUpdate(ctx, e.pc, s, func() error {
			s.Data = map[string][]byte{"kubeconfig": data}
			return nil
		})
		require.NoError(t, err)
	}

	t.Run("a renewed kubeconfig is picked up", func(t *testing.T) {
		cfg, err := clientcmd.Load(framework.ProviderKubeconfig(t, e.prov))
		require.NoError(t, err)
		ctxName := cfg.CurrentContext
		cfg.Contexts["renewed"] = cfg.Contexts[ctxName]
		cfg.CurrentContext = "renewed"
		renewed, err := clientcmd.Write(*cfg)
		require.NoError(t, err)
		require.False(t, bytes.Equal(renewed, consumerSecret()))
		renew(renewed)
		framework.Eventually(t, func() (bool, string) {
			return bytes.Equal(consumerSecret(), renewed), "not picked up yet"
		}, framework.WaitTimeout)
		waitEvent(t, e.cc, "", e.binding.Name, "CredentialsRotated")
		waitCondition(t, e.cc, e.binding.Name, "Ready", corev1.ConditionTrue, "")
	})

	// notPickedUp renews the kubeconfig with data and checks, two
	// heartbeats later (each looks at the Secret), that the consumer's
	// Secret did not change.
	notPickedUp := func(t *testing.T, data []byte) {
		before := consumerSecret()
		renew(data)
		cb := &kubebindv1alpha1.ClusterBinding{}
		require.NoError(t, e.pc.Get(ctx, cbKey, cb))
		seen := cb.Status.LastHeartbeatTime.Time
		framework.Eventually(t, func() (bool, string) {
			require.NoError(t, e.pc.Get(ctx, cbKey, cb))
			return cb.Status.LastHeartbeatTime.Time.Sub(seen) >= 2*time.Second, "waiting for heartbeats"
		}, framework.WaitTimeout)
		assert.Equal(t, before, consumerSecret())
	}

	t.Run("a broken kubeconfig is not", func(t *testing.T) {
		notPickedUp(t, []byte("not a kubeconfig"))
		waitCondition(t, e.cc, e.binding.Name, "Ready", corev1.ConditionTrue, "")
	})

	// A provider is not trusted with the consumer cluster: a kubeconfig
	// that would run a program in the konnector is never used.
	marker := filepath.Join(t.TempDir(), "pwned")
	evil := framework.WithExecPlugin(t, framework.ProviderKubeconfig(t, e.prov), "/bin/sh", "-c", "touch "+marker)

	t.Run("a renewed kubeconfig with an exec plugin is not picked up", func(t *testing.T) {
		notPickedUp(t, evil)
		_, err := os.Stat(marker)
		assert.True(t, os.IsNotExist(err), "the provider's exec plugin ran")
	})

	t.Run("a stored kubeconfig with an exec plugin is refused with a clear condition", func(t *testing.T) {
		s := &corev1.Secret{}
		require.NoError(t, e.cc.Get(ctx, client.ObjectKey{Namespace: "kube-bind", Name: "provider-kubeconfig"}, s))
		s.Data["kubeconfig"] = evil
		require.NoError(t, e.cc.Update(ctx, s))
		msg := waitCondition(t, e.cc, e.binding.Name, "SecretValid", corev1.ConditionFalse, binding.ReasonSecretInvalid)
		assert.Contains(t, msg, `refused exec (it would run "/bin/sh")`)
		waitCondition(t, e.cc, e.binding.Name, "Ready", corev1.ConditionFalse, "")
		_, err := os.Stat(marker)
		assert.True(t, os.IsNotExist(err), "the provider's exec plugin ran")
	})
}
