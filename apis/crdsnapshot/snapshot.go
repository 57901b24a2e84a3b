// Package crdsnapshot converts between a CustomResourceDefinition and the
// CRD snapshot an APIServiceExport carries (kube-bind's
// APIServiceExportCRDSpec), and hashes snapshots to detect drift.
//
// The backend takes snapshots of the control plane's CRDs; the konnector
// turns them back into CRDs in the consumer cluster. Both use this package,
// so that a round trip CRD → export → CRD loses nothing the consumer needs.
package crdsnapshot

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1/helpers"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"
)

// FromCRD takes a snapshot of crd for an export. versions picks the served
// versions to include; empty means all served versions. Exactly one version
// of the snapshot is the storage version: the CRD's own when it is included,
// else the highest-priority included version.
//
// A CRD converted by a webhook can only be offered with one version, since
// the consumer cluster has no access to the webhook.
func FromCRD(crd *apiextensionsv1.CustomResourceDefinition, versions []string) (*kubebindv1alpha1.APIServiceExportCRDSpec, error) {
	served := map[string]apiextensionsv1.CustomResourceDefinitionVersion{}
	var servedNames []string
	for _, v := range crd.Spec.Versions {
		if v.Served {
			served[v.Name] = v
			servedNames = append(servedNames, v.Name)
		}
	}
	want := versions
	if len(want) == 0 {
		want = servedNames
	}
	var missing []string
	for _, v := range want {
		if _, ok := served[v]; !ok {
			missing = append(missing, v)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("CRD %s does not serve version(s) %v (served: %v)", crd.Name, missing, servedNames)
	}
	if len(want) == 0 {
		return nil, fmt.Errorf("CRD %s serves no version", crd.Name)
	}
	webhook := crd.Spec.Conversion != nil && crd.Spec.Conversion.Strategy == apiextensionsv1.WebhookConverter
	if webhook && len(want) > 1 {
		if len(versions) > 0 {
			return nil, fmt.Errorf("CRD %s converts versions with a webhook, which consumer clusters cannot reach: offer exactly one version, not %v", crd.Name, versions)
		}
		want = []string{storageOrFirst(crd, want)}
	}

	storage := ""
	for _, v := range crd.Spec.Versions {
		if v.Storage && slices.Contains(want, v.Name) {
			storage = v.Name
		}
	}
	if storage == "" {
		sorted := slices.Clone(want)
		sort.Slice(sorted, func(i, j int) bool { return version.CompareKubeAwareVersionStrings(sorted[i], sorted[j]) > 0 })
		storage = sorted[0]
	}

	spec := &kubebindv1alpha1.APIServiceExportCRDSpec{
		Group: crd.Spec.Group,
		Names: crd.Spec.Names,
		Scope: crd.Spec.Scope,
	}
	for _, v := range crd.Spec.Versions {
		if !slices.Contains(want, v.Name) {
			continue
		}
		ev := kubebindv1alpha1.APIServiceExportVersion{
			Name:                     v.Name,
			Served:                   true,
			Storage:                  v.Name == storage,
			Deprecated:               v.Deprecated,
			DeprecationWarning:       v.DeprecationWarning,
			AdditionalPrinterColumns: v.AdditionalPrinterColumns,
		}
		if v.Schema != nil && v.Schema.OpenAPIV3Schema != nil {
			raw, err := json.Marshal(v.Schema.OpenAPIV3Schema)
			if err != nil {
				return nil, fmt.Errorf("encoding schema of %s version %s: %w", crd.Name, v.Name, err)
			}
			ev.Schema.OpenAPIV3Schema.Raw = raw
		} else {
			return nil, fmt.Errorf("CRD %s version %s has no schema", crd.Name, v.Name)
		}
		if v.Subresources != nil {
			ev.Subresources = *v.Subresources
		}
		spec.Versions = append(spec.Versions, ev)
	}
	return spec, nil
}

func storageOrFirst(crd *apiextensionsv1.CustomResourceDefinition, want []string) string {
	for _, v := range crd.Spec.Versions {
		if v.Storage && slices.Contains(want, v.Name) {
			return v.Name
		}
	}
	return want[0]
}

// ToCRD builds the CRD named name (the export's name, <plural>.<group>)
// from a snapshot. The result has no conversion webhook and no status.
func ToCRD(name string, spec *kubebindv1alpha1.APIServiceExportCRDSpec) (*apiextensionsv1.CustomResourceDefinition, error) {
	if want := spec.Names.Plural + "." + spec.Group; name != want {
		return nil, fmt.Errorf("snapshot for %s cannot be installed as CRD %s", want, name)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{
		TypeMeta:   metav1.TypeMeta{APIVersion: apiextensionsv1.SchemeGroupVersion.String(), Kind: "CustomResourceDefinition"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: spec.Group,
			Names: spec.Names,
			Scope: spec.Scope,
		},
	}
	for _, v := range spec.Versions {
		cv := apiextensionsv1.CustomResourceDefinitionVersion{
			Name:                     v.Name,
			Served:                   v.Served,
			Storage:                  v.Storage,
			Deprecated:               v.Deprecated,
			DeprecationWarning:       v.DeprecationWarning,
			AdditionalPrinterColumns: v.AdditionalPrinterColumns,
		}
		if len(v.Schema.OpenAPIV3Schema.Raw) > 0 {
			schema := &apiextensionsv1.JSONSchemaProps{}
			if err := json.Unmarshal(v.Schema.OpenAPIV3Schema.Raw, schema); err != nil {
				return nil, fmt.Errorf("decoding schema of %s version %s: %w", name, v.Name, err)
			}
			cv.Schema = &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: schema}
		}
		if v.Subresources.Status != nil || v.Subresources.Scale != nil {
			sub := v.Subresources
			cv.Subresources = &sub
		}
		crd.Spec.Versions = append(crd.Spec.Versions, cv)
	}
	return crd, nil
}

// Hash is the drift hash of a snapshot. It is kube-bind's own algorithm,
// so that upstream konnectors and Bindery agree on the value of the
// kube-bind.io/source-spec-hash annotation.
func Hash(spec *kubebindv1alpha1.APIServiceExportCRDSpec) string {
	return helpers.APIServiceExportCRDSpecHash(spec)
}
