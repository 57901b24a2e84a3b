// Package catalog is what a provider offers: one Service per
// APIServiceExportTemplate, plus one per plain CRD labelled
// kube-bind.io/exported=true (the kube-bind convention) that no template
// already offers. The backend shows the catalogue on its selection page and
// checks every APIServiceExportRequest against it.
package catalog

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/contract"
	"github.com/bindery-dev/bindery/apis/crdsnapshot"
	"github.com/bindery-dev/bindery/apis/isolation"
)

const (
	// ExportedLabel marks a CRD as offered on its own, with defaults.
	ExportedLabel = "kube-bind.io/exported"
	// DisplayNameAnnotation optionally names an exported CRD for users.
	DisplayNameAnnotation = "bindery.dev/display-name"
	// DescriptionAnnotation optionally describes an exported CRD for users.
	DescriptionAnnotation = "bindery.dev/description"
)

// Source says where a Service comes from.
type Source string

const (
	SourceTemplate    Source = "Template"
	SourceExportedCRD Source = "ExportedCRD"
)

// Service is one bindable offering.
type Service struct {
	// Name is the template's name, or the exported CRD's name.
	Name   string
	Source Source
	// Spec is the template's spec, or the defaults for an exported CRD.
	Spec binderyv1alpha1.APIServiceExportTemplateSpec
}

// Offers reports whether the service includes group/resource.
func (s Service) Offers(group, resource string) bool {
	return slices.ContainsFunc(s.Spec.Resources, func(r binderyv1alpha1.ExportedResource) bool {
		return r.Group == group && r.Resource == resource
	})
}

// Resource returns the service's entry for group/resource.
func (s Service) Resource(group, resource string) (binderyv1alpha1.ExportedResource, bool) {
	for _, r := range s.Spec.Resources {
		if r.Group == group && r.Resource == resource {
			return r, true
		}
	}
	return binderyv1alpha1.ExportedResource{}, false
}

// ExportSettings are the Bindery settings of the service's export of one
// of its resources: the permission claims that concern it (a reference
// claim names the resource it reads) and the consumer namespaces it
// covers.
func (s Service) ExportSettings(group, resource string) contract.ExportSettings {
	var out contract.ExportSettings
	for _, c := range s.Spec.PermissionClaims {
		if ref := c.Selector.Reference; ref != nil && ref.Resource != nil && (ref.Resource.Group != group || ref.Resource.Resource != resource) {
			continue
		}
		out.Claims = append(out.Claims, c)
	}
	if scope := s.Spec.Scope; scope != nil && scope.Type == binderyv1alpha1.BindingScopeNamespaces {
		out.Namespaces = scope.Namespaces
	}
	for _, r := range s.Spec.Resources {
		if r.Group == group && r.Resource == resource {
			out.MaxObjects = r.MaxObjectsPerNamespace
		}
	}
	return out
}

// Snapshot is the schema the service gives consumers for crd, at versions
// (every served one when empty): the CRD's snapshot, except that under
// Namespaced isolation the CRD, which must be namespaced on the provider,
// is cluster-scoped for consumers, and each consumer's objects live in its
// cluster namespace on the provider.
func (s Service) Snapshot(crd *apiextensionsv1.CustomResourceDefinition, versions []string) (*kubebindv1alpha1.APIServiceExportCRDSpec, error) {
	spec, err := crdsnapshot.FromCRD(crd, versions)
	if err != nil {
		return nil, err
	}
	scope, err := isolation.ConsumerScope(kubebindv1alpha1.Isolation(s.Spec.ClusterScopedIsolation), crd.Spec.Scope)
	if err != nil {
		return nil, fmt.Errorf("%q offers %s: %w", s.Name, crd.Name, err)
	}
	spec.Scope = scope
	return spec, nil
}

// FromTemplate is the service a template describes, with the API's defaults
// filled in where the template leaves them empty.
func FromTemplate(t *binderyv1alpha1.APIServiceExportTemplate) Service {
	return Service{Name: t.Name, Source: SourceTemplate, Spec: WithDefaults(t.Spec)}
}

// FromExportedCRD is the one-resource service of a CRD labelled
// kube-bind.io/exported=true; ok is false for any other CRD.
func FromExportedCRD(crd *apiextensionsv1.CustomResourceDefinition) (Service, bool) {
	if crd.Labels[ExportedLabel] != "true" {
		return Service{}, false
	}
	display := crd.Annotations[DisplayNameAnnotation]
	if display == "" {
		display = crd.Spec.Names.Kind
	}
	return Service{
		Name:   crd.Name,
		Source: SourceExportedCRD,
		Spec: WithDefaults(binderyv1alpha1.APIServiceExportTemplateSpec{
			DisplayName: display,
			Description: crd.Annotations[DescriptionAnnotation],
			Resources:   []binderyv1alpha1.ExportedResource{{Group: crd.Spec.Group, Resource: crd.Spec.Names.Plural}},
		}),
	}, true
}

// WithDefaults fills in what the CRD's defaulting would, so that specs
// built in code behave like applied ones.
func WithDefaults(spec binderyv1alpha1.APIServiceExportTemplateSpec) binderyv1alpha1.APIServiceExportTemplateSpec {
	out := *spec.DeepCopy()
	if out.Scope == nil {
		out.Scope = &binderyv1alpha1.BindingScope{}
	}
	if out.Scope.Type == "" {
		out.Scope.Type = binderyv1alpha1.BindingScopeCluster
	}
	if out.SchemaUpdatePolicy == "" {
		out.SchemaUpdatePolicy = binderyv1alpha1.SchemaUpdateNonBreaking
	}
	if out.ClusterScopedIsolation == "" {
		out.ClusterScopedIsolation = binderyv1alpha1.IsolationPrefixed
	}
	return out
}

// Build lists every offered service: all templates, then every exported
// CRD that no template offers, each group sorted by name. Templates being
// deleted are left out: they take no new bindings.
func Build(templates []binderyv1alpha1.APIServiceExportTemplate, crds []apiextensionsv1.CustomResourceDefinition) []Service {
	var out []Service
	for i := range templates {
		if templates[i].DeletionTimestamp != nil {
			continue
		}
		out = append(out, FromTemplate(&templates[i]))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	fromTemplates := len(out)
	for i := range crds {
		svc, ok := FromExportedCRD(&crds[i])
		if !ok {
			continue
		}
		r := svc.Spec.Resources[0]
		if slices.ContainsFunc(out[:fromTemplates], func(s Service) bool { return s.Offers(r.Group, r.Resource) }) {
			continue
		}
		out = append(out, svc)
	}
	sort.Slice(out[fromTemplates:], func(i, j int) bool {
		return out[fromTemplates+i].Name < out[fromTemplates+j].Name
	})
	return out
}

// Find returns the service named name.
func Find(services []Service, name string) (Service, bool) {
	for _, s := range services {
		if s.Name == name {
			return s, true
		}
	}
	return Service{}, false
}

// ForResources returns the services that offer every one of the given
// group/resources together, the templates first.
func ForResources(services []Service, grs ...binderyv1alpha1.GroupResource) []Service {
	var out []Service
	for _, s := range services {
		all := true
		for _, gr := range grs {
			if !s.Offers(gr.Group, gr.Resource) {
				all = false
				break
			}
		}
		if all && len(grs) > 0 {
			out = append(out, s)
		}
	}
	return out
}

// ResourceSummary is a short list of a spec's resources, "databases.db.example.com, ...".
func ResourceSummary(spec binderyv1alpha1.APIServiceExportTemplateSpec) string {
	names := make([]string, 0, len(spec.Resources))
	for _, r := range spec.Resources {
		names = append(names, r.Resource+"."+r.Group)
	}
	return strings.Join(names, ", ")
}

// Listing is what a backend with a public catalog serves at /templates:
// its services before any login, for `kubectl bind templates`.
type Listing struct {
	ProviderPrettyName string          `json:"providerPrettyName"`
	Services           []ListedService `json:"services"`
}

// ListedService is one service of a Listing.
type ListedService struct {
	Name        string `json:"name"`
	DisplayName string `json:"displayName"`
	Description string `json:"description,omitempty"`
	// Resources are "resource.group".
	Resources []string `json:"resources"`
	// Ready is false when the service cannot be bound now; Problem says why.
	Ready   bool   `json:"ready"`
	Problem string `json:"problem,omitempty"`
	// Claims describe the related objects that travel with the service.
	Claims []string `json:"claims,omitempty"`
}
