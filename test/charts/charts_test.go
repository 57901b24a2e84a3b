// Package charts_test renders Bindery's Helm charts with helm itself and
// checks what each value does; the e2e tests install them.
package charts_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"

	"github.com/bindery-dev/bindery/test/framework"
)

var required = []string{
	"externalURL=https://bind.example.com", "apiServer=https://api.example.com:6443",
	"oidc.issuerURL=https://login.example.com", "oidc.clientID=bindery", "oidc.clientSecret.secretName=oidc",
}

// render runs helm template on charts/backend with the values set.
func render(t *testing.T, set ...string) (map[string][]byte, error) {
	t.Helper()
	helm, err := framework.HelmPath()
	require.NoError(t, err)
	args := []string{"template", "b", filepath.Join(framework.RepoRoot(), "charts", "backend"), "--namespace", "bindery-system"}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := exec.Command(helm, args...).CombinedOutput()
	if err != nil {
		return nil, &renderError{string(out)}
	}
	objs := map[string][]byte{}
	for _, doc := range strings.Split(string(out), "\n---\n") {
		var head struct {
			Kind string `json:"kind"`
		}
		if yaml.Unmarshal([]byte(doc), &head) == nil && head.Kind != "" {
			objs[head.Kind] = []byte(doc)
		}
	}
	return objs, nil
}

type renderError struct{ out string }

func (e *renderError) Error() string { return e.out }

func deployment(t *testing.T, objs map[string][]byte) *appsv1.Deployment {
	t.Helper()
	d := &appsv1.Deployment{}
	require.NoError(t, yaml.Unmarshal(objs["Deployment"], d))
	return d
}

func TestBackendChartRequiresItsValues(t *testing.T) {
	for i, v := range required {
		name := strings.Split(v, "=")[0]
		if name == "oidc.clientID" {
			continue // the backend itself says it is missing
		}
		t.Run(name, func(t *testing.T) {
			rest := append(append([]string(nil), required[:i]...), required[i+1:]...)
			_, err := render(t, rest...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), name+" is required")
		})
	}
}

func TestBackendChartValues(t *testing.T) {
	t.Run("defaults: secrets as files, hardened pod, leader election", func(t *testing.T) {
		objs, err := render(t, required...)
		require.NoError(t, err)
		d := deployment(t, objs)
		c := d.Spec.Template.Spec.Containers[0]
		assert.Contains(t, c.Args, "--oidc-client-secret-file=/etc/bindery/oidc/client-secret")
		for _, a := range c.Args {
			assert.NotContains(t, a, "--oidc-client-secret=", "the client secret never is a flag")
			assert.NotContains(t, a, "--cookie-", "cookie keys never are flags")
		}
		assert.Contains(t, c.Args, "--leader-elect=true")
		assert.Contains(t, c.Args, "--keys-secret=b-keys")
		assert.Contains(t, c.Args, "--external-ca-file=/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")
		assert.Contains(t, c.Args, "--max-objects-per-namespace=1000", "what a consumer creates is bounded")
		assert.True(t, *c.SecurityContext.ReadOnlyRootFilesystem)
		assert.False(t, *c.SecurityContext.AllowPrivilegeEscalation)
		assert.True(t, *d.Spec.Template.Spec.SecurityContext.RunAsNonRoot)
		assert.Empty(t, objs["Ingress"])
	})
	t.Run("no bound on objects per namespace", func(t *testing.T) {
		objs, err := render(t, append(required, "maxObjectsPerNamespace=0")...)
		require.NoError(t, err)
		assert.Contains(t, deployment(t, objs).Spec.Template.Spec.Containers[0].Args, "--max-objects-per-namespace=0")
	})
	t.Run("TLS from a Secret", func(t *testing.T) {
		objs, err := render(t, append(required, "tls.secretName=bind-tls")...)
		require.NoError(t, err)
		d := deployment(t, objs)
		assert.Contains(t, d.Spec.Template.Spec.Containers[0].Args, "--tls-cert-file=/etc/bindery/tls/tls.crt")
		assert.Contains(t, string(objs["Deployment"]), "secretName: bind-tls")
	})
	t.Run("an Ingress terminating TLS", func(t *testing.T) {
		objs, err := render(t, append(required, "ingress.enabled=true", "ingress.host=bind.example.com", "ingress.className=nginx", "ingress.tlsSecretName=bind-tls")...)
		require.NoError(t, err)
		ing := &networkingv1.Ingress{}
		require.NoError(t, yaml.Unmarshal(objs["Ingress"], ing))
		assert.Equal(t, "bind.example.com", ing.Spec.Rules[0].Host)
		assert.Equal(t, "nginx", *ing.Spec.IngressClassName)
		assert.Equal(t, "bind-tls", ing.Spec.TLS[0].SecretName)
		_, err = render(t, append(required, "ingress.enabled=true")...)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "ingress.host is required")
	})
	t.Run("another CA for the API server, and allow-lists", func(t *testing.T) {
		objs, err := render(t, append(required, "apiServerCA.configMap=api-ca", "oidc.allowedGroups={devs,ops}", "replicas=2")...)
		require.NoError(t, err)
		d := deployment(t, objs)
		assert.Contains(t, d.Spec.Template.Spec.Containers[0].Args, "--external-ca-file=/etc/bindery/api-server-ca/ca.crt")
		assert.Contains(t, d.Spec.Template.Spec.Containers[0].Args, "--oidc-allowed-groups=devs,ops")
		assert.Equal(t, int32(2), *d.Spec.Replicas)
	})
}
