package bind

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindery-dev/bindery/apis/crds"
	"github.com/bindery-dev/bindery/konnector/deploy"
	"github.com/bindery-dev/bindery/test/framework"
)

func TestMain(m *testing.M) { framework.Main(m) }

// TestRefreshKonnectorGrantNarrowsOnlyItsOwn: after an unbind, kubectl
// bind narrows the konnector's ClusterRole it deployed itself, and leaves
// alone one that another tool (Helm) manages, or none.
func TestRefreshKonnectorGrantNarrowsOnlyItsOwn(t *testing.T) {
	t.Parallel()
	c := framework.StartCluster(t, "consumer")
	ctx := t.Context()
	require.NoError(t, crds.Install(ctx, c.Client, crds.Consumer...))
	d, err := dynamic.NewForConfig(c.Config)
	require.NoError(t, err)
	roles := d.Resource(rbacv1.SchemeGroupVersion.WithResource("clusterroles"))
	// What a konnector granted Secrets for a binding that is gone holds.
	wide := &rbacv1.ClusterRole{
		TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRole"},
		ObjectMeta: metav1.ObjectMeta{Name: deploy.ClusterRoleName},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list", "watch"}}},
	}
	grantsSecrets := func(t *testing.T) bool {
		t.Helper()
		cr := &rbacv1.ClusterRole{}
		require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Name: deploy.ClusterRoleName}, cr))
		for _, r := range cr.Rules {
			for _, res := range r.Resources {
				if res == "secrets" {
					return true
				}
			}
		}
		return false
	}

	for _, tt := range []struct {
		name        string
		manager     string // who wrote the ClusterRole; none when empty
		wantRefresh bool
	}{
		{name: "no konnector ClusterRole"},
		{name: "installed with Helm", manager: "helm"},
		{name: "deployed by kubectl bind", manager: FieldManager, wantRefresh: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := roles.Delete(ctx, deploy.ClusterRoleName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				require.NoError(t, err)
			}
			if tt.manager != "" {
				raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(wide)
				require.NoError(t, err)
				_, err = roles.Apply(ctx, deploy.ClusterRoleName, &unstructured.Unstructured{Object: raw}, metav1.ApplyOptions{FieldManager: tt.manager})
				require.NoError(t, err)
			}

			refreshed, err := RefreshKonnectorGrant(ctx, d, "kube-bind")
			require.NoError(t, err)
			assert.Equal(t, tt.wantRefresh, refreshed)
			if tt.manager != "" {
				// No binding claims Secrets any more: only kubectl
				// bind's own ClusterRole loses them.
				assert.Equal(t, !tt.wantRefresh, grantsSecrets(t))
			}
		})
	}
}
