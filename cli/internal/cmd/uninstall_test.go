package cmd

import (
	"bytes"
	"strings"
	"testing"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindery-dev/bindery/apis/bindprotocol"
	"github.com/bindery-dev/bindery/cli/internal/bind"
	"github.com/bindery-dev/bindery/konnector/deploy"
	"github.com/bindery-dev/bindery/test/framework"
)

// TestUnbindAllAndUninstall checks that kubectl bind unbind --all and
// kubectl bind uninstall leave nothing of kubectl bind's behind in the
// consumer cluster.
func TestUnbindAllAndUninstall(t *testing.T) {
	t.Parallel()
	_, cons, cc, _ := boundEnv(t)
	ctx := t.Context()
	kubeconfig := []string{"--kubeconfig", cons.Kubeconfig}

	t.Run("uninstall refuses while bindings remain", func(t *testing.T) {
		out, err := run(t, append(kubeconfig, "uninstall", "--yes")...)
		require.Error(t, err, out)
		assert.Contains(t, err.Error(), "1 binding(s) remain: "+framework.BindingName)
		assert.Contains(t, err.Error(), "kubectl bind unbind --all")
		require.NoError(t, cc.Get(ctx, client.ObjectKey{Name: "bindery-konnector"}, &rbacv1.ClusterRole{}), "nothing was removed")
	})

	t.Run("unbind needs a name or --all", func(t *testing.T) {
		_, err := run(t, append(kubeconfig, "unbind")...)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "or pass --all")
	})

	t.Run("unbind --all removes every binding and the provider kubeconfigs", func(t *testing.T) {
		out, err := run(t, append(kubeconfig, "unbind", "--all", "--yes")...)
		require.NoError(t, err, out)
		assert.Contains(t, out, "Unbound "+framework.BindingName)
		err = cc.Get(ctx, client.ObjectKey{Name: framework.BindingName}, &kubebindv1alpha1.APIServiceBinding{})
		assert.True(t, apierrors.IsNotFound(err), "the binding is gone: %v", err)
		secrets := &corev1.SecretList{}
		require.NoError(t, cc.List(ctx, secrets, client.InNamespace(bind.Namespace)))
		var names []string
		for _, s := range secrets.Items {
			names = append(names, s.Name)
		}
		assert.Equal(t, []string{bindprotocol.ClusterSecretName}, names, "only the cluster's key stays, for the next bind")
		cr := &rbacv1.ClusterRole{}
		require.NoError(t, cc.Get(ctx, client.ObjectKey{Name: deploy.ClusterRoleName}, cr))
		for _, r := range cr.Rules {
			assert.NotContains(t, r.APIGroups, "db.example.com", "the konnector's grant of the unbound resource is gone")
		}
		assert.Contains(t, out, "granted only what the remaining bindings need")
	})

	t.Run("uninstall asks first, and no keeps everything", func(t *testing.T) {
		d, err := dynamic.NewForConfig(cons.Config)
		require.NoError(t, err)
		var out bytes.Buffer
		err = uninstall(ctx, d, cons.Kube, &uninstallOptions{timeout: time.Minute}, strings.NewReader("n\n"), &out)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "not uninstalled")
		assert.Contains(t, out.String(), "Continue? [y/N]")
		require.NoError(t, cc.Get(ctx, client.ObjectKey{Name: "bindery-konnector"}, &rbacv1.ClusterRole{}), "nothing was removed")
		require.NoError(t, cc.Get(ctx, client.ObjectKey{Name: deploy.ClaimCopyPolicyName}, &admissionregistrationv1.ValidatingAdmissionPolicy{}), "nothing was removed")
	})

	t.Run("uninstall removes the konnector, its permissions, the key, the CRD and the namespace", func(t *testing.T) {
		out, err := run(t, append(kubeconfig, "uninstall", "--yes", "--timeout", "2m")...)
		require.NoError(t, err, out)
		assert.Contains(t, out, "Uninstalled.")
		for _, obj := range []client.Object{
			&rbacv1.ClusterRole{}, &rbacv1.ClusterRoleBinding{},
		} {
			err := cc.Get(ctx, client.ObjectKey{Name: "bindery-konnector"}, obj)
			assert.True(t, apierrors.IsNotFound(err), "%T bindery-konnector: %v", obj, err)
		}
		err = cc.Get(ctx, client.ObjectKey{Name: "apiservicebindings.kube-bind.io"}, &apiextensionsv1.CustomResourceDefinition{})
		assert.True(t, apierrors.IsNotFound(err), "the APIServiceBinding CRD: %v", err)
		err = cc.Get(ctx, client.ObjectKey{Name: framework.BindingName}, &apiextensionsv1.CustomResourceDefinition{})
		assert.True(t, apierrors.IsNotFound(err), "the bound CRD: %v", err)
		err = cc.Get(ctx, client.ObjectKey{Name: bind.Namespace}, &corev1.Namespace{})
		assert.True(t, apierrors.IsNotFound(err), "namespace %s: %v", bind.Namespace, err)
		// Nothing labelled as Bindery's is left anywhere.
		crs := &rbacv1.ClusterRoleList{}
		require.NoError(t, cc.List(ctx, crs, client.MatchingLabels{"app.kubernetes.io/part-of": "bindery"}))
		assert.Empty(t, crs.Items)
		crbs := &rbacv1.ClusterRoleBindingList{}
		require.NoError(t, cc.List(ctx, crbs, client.MatchingLabels{"app.kubernetes.io/part-of": "bindery"}))
		assert.Empty(t, crbs.Items)
		vaps := &admissionregistrationv1.ValidatingAdmissionPolicyList{}
		require.NoError(t, cc.List(ctx, vaps, client.MatchingLabels{"app.kubernetes.io/part-of": "bindery"}))
		assert.Empty(t, vaps.Items, "the konnector's admission policy")
		vapbs := &admissionregistrationv1.ValidatingAdmissionPolicyBindingList{}
		require.NoError(t, cc.List(ctx, vapbs, client.MatchingLabels{"app.kubernetes.io/part-of": "bindery"}))
		assert.Empty(t, vapbs.Items, "the konnector's admission policy binding")
	})

	t.Run("uninstalling again finds nothing to do", func(t *testing.T) {
		out, err := run(t, append(kubeconfig, "uninstall", "--yes", "--timeout", "30s")...)
		require.NoError(t, err, out)
		assert.Contains(t, out, "Uninstalled.")
	})
}
