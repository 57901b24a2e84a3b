package cmd

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"strings"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/util/conditions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/controller-runtime/pkg/client"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/cli/internal/bind"
	"github.com/bindery-dev/bindery/test/framework"
)

// TestSecondProviderDoesNotRepoint: binding a resource that is already
// bound from another provider fails before writing anything, naming the
// provider it is bound from, and the first provider's binding, objects and
// heartbeat are untouched.
func TestSecondProviderDoesNotRepoint(t *testing.T) {
	t.Parallel()
	first, cons, cc, res := boundEnv(t)
	second := framework.StartCluster(t, "second-provider")
	framework.ProviderSide(t, second)
	framework.ServeExportRequests(t, second)
	ctx := t.Context()
	databases := kubebindv1alpha1.GroupResource{Group: "db.example.com", Resource: "databases"}

	for _, dryRun := range []bool{true, false} {
		t.Run(fmt.Sprintf("dry run %v", dryRun), func(t *testing.T) {
			_, err := bind.Apply(ctx, response(t, second, databases), bind.ApplyOptions{Consumer: cons.Config, Timeout: time.Minute, Out: &bytes.Buffer{}, DryRun: dryRun})
			require.Error(t, err)
			assert.Contains(t, err.Error(), framework.BindingName+" is already bound from Test Provider")
			assert.Contains(t, err.Error(), "would re-point it")
			assert.Contains(t, err.Error(), "hint: keep the existing binding, or unbind it first (kubectl bind unbind "+framework.BindingName+")")
		})
	}

	t.Run("nothing was written, and the first provider still hears from the konnector", func(t *testing.T) {
		b := &kubebindv1alpha1.APIServiceBinding{}
		require.NoError(t, cc.Get(ctx, client.ObjectKey{Name: framework.BindingName}, b))
		assert.Equal(t, res.Secret, b.Spec.KubeconfigSecretRef.Name, "the binding still points at the first provider")
		secrets := &corev1.SecretList{}
		require.NoError(t, cc.List(ctx, secrets, client.InNamespace(bind.Namespace)))
		assert.Len(t, secrets.Items, 2, "the first provider's kubeconfig and the cluster key, nothing for the second")
		requests := &kubebindv1alpha1.APIServiceExportRequestList{}
		require.NoError(t, second.Client.List(ctx, requests, client.InNamespace(framework.ClusterNS)))
		assert.Empty(t, requests.Items, "no request reached the second provider")

		heartbeat := func() time.Time {
			cb := &kubebindv1alpha1.ClusterBinding{}
			require.NoError(t, first.Client.Get(ctx, client.ObjectKey{Namespace: framework.ClusterNS, Name: "cluster"}, cb))
			return cb.Status.LastHeartbeatTime.Time
		}
		before := heartbeat()
		framework.Eventually(t, func() (bool, string) {
			return heartbeat().After(before), "no heartbeat since " + before.String()
		}, framework.WaitTimeout)
	})
}

// TestBindPerNamespace binds one resource from two providers, each for its
// own namespaces, as kubectl bind --namespace does: the first binding keeps
// the resource's name, the second gets the namespaces in its name and names
// the export; a namespace another provider serves, or a bind for every
// namespace, is refused before anything is written; binding again from the
// same provider changes its binding's namespaces.
func TestBindPerNamespace(t *testing.T) {
	t.Parallel()
	first, cons, cc := bindEnv(t)
	second := framework.StartCluster(t, "second-provider")
	framework.ProviderSide(t, second)
	framework.ServeExportRequests(t, second)
	ctx := t.Context()
	_, err := bind.ClusterKey(ctx, cons.Kube, "https://provider.example.com/authorize")
	require.NoError(t, err)
	databases := kubebindv1alpha1.GroupResource{Group: "db.example.com", Resource: "databases"}
	apply := func(p *framework.Cluster, namespaces ...string) (*bind.Result, error) {
		return bind.Apply(ctx, response(t, p, databases), bind.ApplyOptions{Consumer: cons.Config, Timeout: time.Minute, Out: &bytes.Buffer{}, Namespaces: namespaces})
	}
	annotations := func(name string) map[string]string {
		b := &kubebindv1alpha1.APIServiceBinding{}
		require.NoError(t, cc.Get(ctx, client.ObjectKey{Name: name}, b))
		return b.Annotations
	}
	secrets := func() int {
		list := &corev1.SecretList{}
		require.NoError(t, cc.List(ctx, list, client.InNamespace(bind.Namespace)))
		return len(list.Items)
	}

	res, err := apply(first, "team-a")
	require.NoError(t, err)
	require.Equal(t, []string{framework.BindingName}, res.Bindings, "the first binding keeps the resource's name")
	assert.Equal(t, "team-a", annotations(framework.BindingName)[binderyv1alpha1.BindingNamespacesAnnotation])
	before := secrets()

	for _, tc := range []struct {
		name       string
		namespaces []string
		want       []string
	}{
		{name: "for every namespace", want: []string{"is already bound from Test Provider", "for every namespace would re-point it", "with --namespace"}},
		{name: "for a namespace the first provider serves", namespaces: []string{"team-b", "team-a"},
			want: []string{"namespace(s) team-a already get databases.db.example.com from Test Provider", "a namespace gets a resource from one provider only"}},
	} {
		t.Run("a second provider "+tc.name+" is refused, and nothing is written", func(t *testing.T) {
			_, err := apply(second, tc.namespaces...)
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Equal(t, before, secrets(), "no kubeconfig stored for the second provider")
			requests := &kubebindv1alpha1.APIServiceExportRequestList{}
			require.NoError(t, second.Client.List(ctx, requests, client.InNamespace(framework.ClusterNS)))
			assert.Empty(t, requests.Items, "no request reached the second provider")
		})
	}

	t.Run("a second provider for other namespaces gets its own binding of the resource", func(t *testing.T) {
		res, err := apply(second, "team-b")
		require.NoError(t, err)
		name := framework.BindingName + "-team-b"
		require.Equal(t, []string{name}, res.Bindings)
		a := annotations(name)
		assert.Equal(t, framework.BindingName, a[binderyv1alpha1.ExportAnnotation])
		assert.Equal(t, "team-b", a[binderyv1alpha1.BindingNamespacesAnnotation])

		role := &rbacv1.ClusterRole{}
		require.NoError(t, cc.Get(ctx, client.ObjectKey{Name: "bindery-konnector"}, role))
		for _, r := range role.Rules {
			for _, n := range r.ResourceNames {
				assert.NotEqual(t, name, n, "the konnector is granted the CRD by its name, not the binding's")
			}
			for _, g := range r.APIGroups {
				assert.NotContains(t, g, "team-b")
			}
		}
	})

	t.Run("binding again from the same provider changes its binding's namespaces", func(t *testing.T) {
		res, err := apply(second, "team-b", "team-c")
		require.NoError(t, err)
		require.Equal(t, []string{framework.BindingName + "-team-b"}, res.Bindings)
		assert.Equal(t, "team-b,team-c", annotations(framework.BindingName + "-team-b")[binderyv1alpha1.BindingNamespacesAnnotation])
	})

	t.Run("unbinding one provider says what goes, and leaves the CRD to the other", func(t *testing.T) {
		d, err := dynamic.NewForConfig(cons.Config)
		require.NoError(t, err)
		var out bytes.Buffer
		require.NoError(t, unbind(ctx, d, framework.BindingName+"-team-b", &unbindOptions{timeout: time.Minute}, strings.NewReader("y\n"), &out))
		assert.Contains(t, out.String(), "every databases.db.example.com object in team-b,team-c is deleted on the provider first")
		assert.Contains(t, out.String(), "the CRD stays for "+framework.BindingName)
		require.NoError(t, cc.Get(ctx, client.ObjectKey{Name: framework.BindingName}, &apiextensionsv1.CustomResourceDefinition{}))
		b := &kubebindv1alpha1.APIServiceBinding{}
		require.NoError(t, cc.Get(ctx, client.ObjectKey{Name: framework.BindingName}, b))
		assert.Equal(t, "True", string(conditions.Get(b, "Ready").Status), "the first provider's binding is Ready")
	})
}
