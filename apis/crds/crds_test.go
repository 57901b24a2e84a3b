package crds_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindery-dev/bindery/apis/crds"
	"github.com/bindery-dev/bindery/apis/internal/apiservertest"
)

func TestGet(t *testing.T) {
	all, err := crds.All()
	require.NoError(t, err)
	assert.Len(t, all, 6)

	got, err := crds.Get(crds.Consumer...)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, "apiservicebindings.kube-bind.io", got[0].Name)

	_, err = crds.Get(schema.GroupResource{Group: "example.com", Resource: "nothing"})
	assert.ErrorContains(t, err, "no embedded CRD for nothing.example.com")
}

func TestInstallIsIdempotentAndUpgrades(t *testing.T) {
	cfg := apiservertest.Start(t)
	scheme := runtime.NewScheme()
	require.NoError(t, apiextensionsv1.AddToScheme(scheme))
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	require.NoError(t, err)
	ctx := t.Context()

	require.NoError(t, crds.Install(ctx, c, crds.Provider...))
	require.NoError(t, crds.Install(ctx, c, crds.Provider...), "installing again changes nothing and succeeds")

	// An older copy (here: with a field dropped from its description) is
	// brought back to the embedded version.
	crd := &apiextensionsv1.CustomResourceDefinition{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Name: "apiserviceexporttemplates.bindery.dev"}, crd))
	want := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Description
	crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Description = "old"
	require.NoError(t, c.Update(ctx, crd))
	require.NoError(t, crds.Install(ctx, c, crds.APIServiceExportTemplates))
	require.NoError(t, c.Get(ctx, client.ObjectKey{Name: crd.Name}, crd))
	assert.Equal(t, want, crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Description)
}
