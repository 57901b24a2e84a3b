package v1alpha1_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/crds"
	"github.com/bindery-dev/bindery/apis/internal/apiservertest"
)

// startAPIServer runs a real etcd and kube-apiserver (KUBEBUILDER_ASSETS,
// set by `make test`) with Bindery's provider CRDs installed.
func startAPIServer(t *testing.T) client.Client {
	t.Helper()
	cfg := apiservertest.Start(t)
	scheme := runtime.NewScheme()
	require.NoError(t, binderyv1alpha1.AddToScheme(scheme))
	require.NoError(t, apiextensionsv1.AddToScheme(scheme))
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	require.NoError(t, err)
	require.NoError(t, crds.Install(t.Context(), c, crds.Provider...))
	return c
}

const validTemplate = `
apiVersion: bindery.dev/v1alpha1
kind: APIServiceExportTemplate
metadata:
  name: NAME
spec:
  displayName: PostgreSQL
  description: A managed PostgreSQL database.
  resources:
  - group: db.example.com
    resource: databases
    versions: [v1]
  permissionClaims:
  - resource: secrets
    direction: ProviderToConsumer
    selector:
      reference:
        namePath: spec.writeConnectionSecretToRef.name
  - resource: configmaps
    direction: ConsumerToProvider
    selector:
      labelSelector:
        matchLabels: {db.example.com/config: "true"}
`

func TestTemplateValidation(t *testing.T) {
	c := startAPIServer(t)

	t.Run("a valid template is accepted and defaulted", func(t *testing.T) {
		tmpl := parse(t, strings.Replace(validTemplate, "NAME", "valid", 1))
		require.NoError(t, c.Create(t.Context(), tmpl))
		assert.Equal(t, binderyv1alpha1.SchemaUpdateNonBreaking, tmpl.Spec.SchemaUpdatePolicy)
		assert.Equal(t, binderyv1alpha1.IsolationPrefixed, tmpl.Spec.ClusterScopedIsolation)
		assert.Nil(t, tmpl.Spec.Scope, "no scope means every consumer namespace")
	})

	tests := []struct {
		name    string
		edit    func(s string) string
		wantErr string
	}{
		{
			name:    "no display name",
			edit:    func(s string) string { return strings.Replace(s, "  displayName: PostgreSQL\n", "", 1) },
			wantErr: "spec.displayName: Required value",
		},
		{
			name: "no resources",
			edit: func(s string) string {
				return strings.Replace(s, "  - group: db.example.com\n    resource: databases\n    versions: [v1]\n", "", 1)
			},
			wantErr: "spec.resources: Required value",
		},
		{
			name: "an empty resource list",
			edit: func(s string) string {
				return strings.Replace(s, "  resources:\n  - group: db.example.com\n    resource: databases\n    versions: [v1]\n", "  resources: []\n", 1)
			},
			wantErr: "spec.resources: Invalid value: 0: spec.resources in body should have at least 1 items",
		},
		{
			name:    "a resource name that is not a plural resource name",
			edit:    func(s string) string { return strings.Replace(s, "resource: databases", "resource: Databases", 1) },
			wantErr: `spec.resources[0].resource: Invalid value: "Databases": spec.resources[0].resource in body should match`,
		},
		{
			name:    "a version that is not a Kubernetes version",
			edit:    func(s string) string { return strings.Replace(s, "versions: [v1]", "versions: [latest]", 1) },
			wantErr: `spec.resources[0].versions[0]: Invalid value: "latest"`,
		},
		{
			name: "the same resource twice",
			edit: func(s string) string {
				return strings.Replace(s, "    versions: [v1]\n", "    versions: [v1]\n  - group: db.example.com\n    resource: databases\n", 1)
			},
			wantErr: `spec.resources[1]: Duplicate value`,
		},
		{
			name: "a negative bound on objects",
			edit: func(s string) string {
				return strings.Replace(s, "versions: [v1]", "versions: [v1]\n    maxObjectsPerNamespace: -1", 1)
			},
			wantErr: `spec.resources[0].maxObjectsPerNamespace: Invalid value: -1: spec.resources[0].maxObjectsPerNamespace in body should be greater than or equal to 0`,
		},
		{
			name:    "an unknown schema update policy",
			edit:    func(s string) string { return s + "  schemaUpdatePolicy: Sometimes\n" },
			wantErr: `spec.schemaUpdatePolicy: Unsupported value: "Sometimes": supported values: "Never", "NonBreaking", "Always"`,
		},
		{
			name:    "an unknown isolation",
			edit:    func(s string) string { return s + "  clusterScopedIsolation: Shared\n" },
			wantErr: `spec.clusterScopedIsolation: Unsupported value: "Shared": supported values: "Prefixed", "Namespaced", "None"`,
		},
		{
			name:    "a claim of something other than secrets or configmaps",
			edit:    func(s string) string { return strings.Replace(s, "resource: secrets", "resource: pods", 1) },
			wantErr: `only core secrets and configmaps can be claimed`,
		},
		{
			name:    "a claim without a direction",
			edit:    func(s string) string { return strings.Replace(s, "    direction: ProviderToConsumer\n", "", 1) },
			wantErr: `spec.permissionClaims[0].direction: Required value`,
		},
		{
			name: "a claim with an unknown direction",
			edit: func(s string) string {
				return strings.Replace(s, "direction: ProviderToConsumer", "direction: Both", 1)
			},
			wantErr: `spec.permissionClaims[0].direction: Unsupported value: "Both": supported values: "ProviderToConsumer", "ConsumerToProvider"`,
		},
		{
			name: "a claim with two selectors",
			edit: func(s string) string {
				return strings.Replace(s, "      reference:\n", "      names: [a]\n      reference:\n", 1)
			},
			wantErr: `spec.permissionClaims[0].selector: Invalid value: exactly one of names, labelSelector or reference must be set`,
		},
		{
			name: "a claim without a selector",
			edit: func(s string) string {
				return strings.Replace(s, "      labelSelector:\n        matchLabels: {db.example.com/config: \"true\"}\n", "      {}\n", 1)
			},
			wantErr: `spec.permissionClaims[1].selector: Invalid value: exactly one of names, labelSelector or reference must be set`,
		},
		{
			name: "a reference path that is not a dotted field path",
			edit: func(s string) string {
				return strings.Replace(s, "spec.writeConnectionSecretToRef.name", "'{.spec.name}'", 1)
			},
			wantErr: `spec.permissionClaims[0].selector.reference.namePath: Invalid value: "{.spec.name}"`,
		},
		{
			name: "a reference to a resource the template does not offer",
			edit: func(s string) string {
				return strings.Replace(s, "        namePath:", "        resource: {group: other.example.com, resource: others}\n        namePath:", 1)
			},
			wantErr: `a permission claim's selector.reference.resource must name one of spec.resources`,
		},
		{
			name: "a reference without its resource when there are several",
			edit: func(s string) string {
				return strings.Replace(s, "    versions: [v1]\n", "    versions: [v1]\n  - group: db.example.com\n    resource: backups\n", 1)
			},
			wantErr: `with more than one resource, a permission claim's selector.reference must name the resource it reads the reference from`,
		},
		{
			name:    "a namespaces scope without namespaces",
			edit:    func(s string) string { return s + "  scope:\n    type: Namespaces\n" },
			wantErr: `spec.scope: Invalid value: namespaces must be listed when type is Namespaces, and only then`,
		},
		{
			name:    "a cluster scope with namespaces",
			edit:    func(s string) string { return s + "  scope:\n    type: Cluster\n    namespaces: [team-a]\n" },
			wantErr: `namespaces must be listed when type is Namespaces, and only then`,
		},
		{
			name:    "a namespace name that is not a namespace name",
			edit:    func(s string) string { return s + "  scope:\n    type: Namespaces\n    namespaces: [Team_A]\n" },
			wantErr: `spec.scope.namespaces[0]: Invalid value: "Team_A"`,
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "bad-" + strings.ToLower(strings.ReplaceAll(strings.Fields(tt.name)[1], "'", "")) + "-" + string(rune('a'+i))
			// Sent as the YAML says, as `kubectl apply` would send it.
			obj := &unstructured.Unstructured{}
			require.NoError(t, yaml.Unmarshal([]byte(tt.edit(strings.Replace(validTemplate, "NAME", name, 1))), &obj.Object))
			err := c.Create(context.Background(), obj)
			require.Error(t, err, "the apiserver must refuse this template")
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func parse(t *testing.T, s string) *binderyv1alpha1.APIServiceExportTemplate {
	t.Helper()
	tmpl := &binderyv1alpha1.APIServiceExportTemplate{}
	require.NoError(t, yaml.UnmarshalStrict([]byte(s), tmpl))
	return tmpl
}

// TestEveryFieldIsDescribed keeps `kubectl explain
// apiserviceexporttemplate.spec` useful: every field of the schema has a
// description.
func TestEveryFieldIsDescribed(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "crds", "bindery.dev_apiserviceexporttemplates.yaml"))
	require.NoError(t, err)
	crd := &apiextensionsv1.CustomResourceDefinition{}
	require.NoError(t, yaml.Unmarshal(data, crd))
	root := crd.Spec.Versions[0].Schema.OpenAPIV3Schema
	var walk func(path string, p apiextensionsv1.JSONSchemaProps)
	walk = func(path string, p apiextensionsv1.JSONSchemaProps) {
		if p.Description == "" && path != "" {
			t.Errorf("%s has no description", path)
		}
		for name, child := range p.Properties {
			if path == "" && (name == "apiVersion" || name == "kind" || name == "metadata") {
				continue
			}
			walk(path+"."+name, child)
		}
		// Items of a list are described by the list's field, as
		// `kubectl explain` shows them; their own fields need descriptions.
		if p.Items != nil && p.Items.Schema != nil {
			for name, child := range p.Items.Schema.Properties {
				walk(path+"[]."+name, child)
			}
		}
	}
	walk("", *root)
}

// TestExamplesAreValid applies the repository's example templates to a
// real API server, so that what the docs and make demo use stays valid.
func TestExamplesAreValid(t *testing.T) {
	c := startAPIServer(t)
	files, err := filepath.Glob("../../../examples/*/template*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		tmpl := &binderyv1alpha1.APIServiceExportTemplate{}
		require.NoError(t, yaml.UnmarshalStrict(raw, tmpl), f)
		require.NoError(t, c.Create(t.Context(), tmpl), f)
	}
}
