package schemacompat

import (
	"encoding/json"
	"strings"
	"testing"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

func baseSchema() *apiextensionsv1.JSONSchemaProps {
	return &apiextensionsv1.JSONSchemaProps{
		Type: "object",
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"spec": {
				Type:     "object",
				Required: []string{"engine"},
				Properties: map[string]apiextensionsv1.JSONSchemaProps{
					"engine": {Type: "string", Enum: []apiextensionsv1.JSON{{Raw: []byte(`"postgres"`)}, {Raw: []byte(`"mysql"`)}}},
					"size":   {Type: "integer", Minimum: ptr(1.0), Maximum: ptr(100.0)},
					"name":   {Type: "string", MaxLength: ptr[int64](63)},
					"tags":   {Type: "array", Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &apiextensionsv1.JSONSchemaProps{Type: "string"}}},
					"labels": {Type: "object", AdditionalProperties: &apiextensionsv1.JSONSchemaPropsOrBool{Allows: true, Schema: &apiextensionsv1.JSONSchemaProps{Type: "string"}}},
				},
			},
			"status": {Type: "object", XPreserveUnknownFields: ptr(true)},
		},
	}
}

func spec(mutate func(*kubebindv1alpha1.APIServiceExportCRDSpec, *apiextensionsv1.JSONSchemaProps)) *kubebindv1alpha1.APIServiceExportCRDSpec {
	s := &kubebindv1alpha1.APIServiceExportCRDSpec{
		Group: "db.example.com",
		Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "databases", Singular: "database", Kind: "Database", ListKind: "DatabaseList"},
		Scope: apiextensionsv1.NamespaceScoped,
	}
	schema := baseSchema()
	if mutate != nil {
		mutate(s, schema)
	}
	raw, _ := json.Marshal(schema)
	if len(s.Versions) == 0 {
		s.Versions = []kubebindv1alpha1.APIServiceExportVersion{{
			Name: "v1", Served: true, Storage: true,
			Subresources: apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}},
		}}
	}
	for i := range s.Versions {
		if len(s.Versions[i].Schema.OpenAPIV3Schema.Raw) == 0 {
			s.Versions[i].Schema.OpenAPIV3Schema.Raw = raw
		}
	}
	return s
}

func specProp(s *apiextensionsv1.JSONSchemaProps) map[string]apiextensionsv1.JSONSchemaProps {
	return s.Properties["spec"].Properties
}

func setSpec(s *apiextensionsv1.JSONSchemaProps, f func(p *apiextensionsv1.JSONSchemaProps)) {
	p := s.Properties["spec"]
	f(&p)
	s.Properties["spec"] = p
}

func TestDiff(t *testing.T) {
	tests := []struct {
		name     string
		mutate   func(*kubebindv1alpha1.APIServiceExportCRDSpec, *apiextensionsv1.JSONSchemaProps)
		breaking bool
		wantPath string // a path named by a change of the expected severity
	}{
		{"no change", nil, false, ""},
		{"new optional field", func(_ *kubebindv1alpha1.APIServiceExportCRDSpec, s *apiextensionsv1.JSONSchemaProps) {
			specProp(s)["backup"] = apiextensionsv1.JSONSchemaProps{Type: "boolean"}
		}, false, "v1: spec.backup"},
		{"new description", func(_ *kubebindv1alpha1.APIServiceExportCRDSpec, s *apiextensionsv1.JSONSchemaProps) {
			p := specProp(s)["size"]
			p.Description = "size in GiB"
			specProp(s)["size"] = p
		}, false, "v1: spec.size"},
		{"new version", func(c *kubebindv1alpha1.APIServiceExportCRDSpec, _ *apiextensionsv1.JSONSchemaProps) {
			c.Versions = []kubebindv1alpha1.APIServiceExportVersion{
				{Name: "v1", Served: true, Storage: true, Subresources: apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}}},
				{Name: "v2", Served: true},
			}
		}, false, "v2"},
		{"new printer column", func(c *kubebindv1alpha1.APIServiceExportCRDSpec, _ *apiextensionsv1.JSONSchemaProps) {
			c.Versions = []kubebindv1alpha1.APIServiceExportVersion{{Name: "v1", Served: true, Storage: true,
				Subresources:             apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}},
				AdditionalPrinterColumns: []apiextensionsv1.CustomResourceColumnDefinition{{Name: "Size", Type: "integer", JSONPath: ".spec.size"}}}}
		}, false, "v1: additionalPrinterColumns"},
		{"new enum value", func(_ *kubebindv1alpha1.APIServiceExportCRDSpec, s *apiextensionsv1.JSONSchemaProps) {
			p := specProp(s)["engine"]
			p.Enum = append(p.Enum, apiextensionsv1.JSON{Raw: []byte(`"mariadb"`)})
			specProp(s)["engine"] = p
		}, false, "v1: spec.engine"},
		{"looser maximum", func(_ *kubebindv1alpha1.APIServiceExportCRDSpec, s *apiextensionsv1.JSONSchemaProps) {
			p := specProp(s)["size"]
			p.Maximum = ptr(1000.0)
			specProp(s)["size"] = p
		}, false, "v1: spec.size"},
		{"new short name", func(c *kubebindv1alpha1.APIServiceExportCRDSpec, _ *apiextensionsv1.JSONSchemaProps) {
			c.Names.ShortNames = []string{"db"}
		}, false, "names"},

		{"removed field", func(_ *kubebindv1alpha1.APIServiceExportCRDSpec, s *apiextensionsv1.JSONSchemaProps) {
			delete(specProp(s), "size")
		}, true, "v1: spec.size"},
		{"type change", func(_ *kubebindv1alpha1.APIServiceExportCRDSpec, s *apiextensionsv1.JSONSchemaProps) {
			specProp(s)["size"] = apiextensionsv1.JSONSchemaProps{Type: "string"}
		}, true, "v1: spec.size"},
		{"new required field", func(_ *kubebindv1alpha1.APIServiceExportCRDSpec, s *apiextensionsv1.JSONSchemaProps) {
			specProp(s)["region"] = apiextensionsv1.JSONSchemaProps{Type: "string"}
			setSpec(s, func(p *apiextensionsv1.JSONSchemaProps) { p.Required = append(p.Required, "region") })
		}, true, "v1: spec.region"},
		{"existing field becomes required", func(_ *kubebindv1alpha1.APIServiceExportCRDSpec, s *apiextensionsv1.JSONSchemaProps) {
			setSpec(s, func(p *apiextensionsv1.JSONSchemaProps) { p.Required = append(p.Required, "size") })
		}, true, "v1: spec.size"},
		{"removed served version", func(c *kubebindv1alpha1.APIServiceExportCRDSpec, _ *apiextensionsv1.JSONSchemaProps) {
			c.Versions = []kubebindv1alpha1.APIServiceExportVersion{{Name: "v2", Served: true, Storage: true}}
		}, true, "v1"},
		{"version no longer served", func(c *kubebindv1alpha1.APIServiceExportCRDSpec, _ *apiextensionsv1.JSONSchemaProps) {
			c.Versions = []kubebindv1alpha1.APIServiceExportVersion{{Name: "v1", Served: false, Storage: true}}
		}, true, "v1"},
		{"removed enum value", func(_ *kubebindv1alpha1.APIServiceExportCRDSpec, s *apiextensionsv1.JSONSchemaProps) {
			p := specProp(s)["engine"]
			p.Enum = p.Enum[:1]
			specProp(s)["engine"] = p
		}, true, "v1: spec.engine"},
		{"tighter maxLength", func(_ *kubebindv1alpha1.APIServiceExportCRDSpec, s *apiextensionsv1.JSONSchemaProps) {
			p := specProp(s)["name"]
			p.MaxLength = ptr[int64](10)
			specProp(s)["name"] = p
		}, true, "v1: spec.name"},
		{"tighter minimum", func(_ *kubebindv1alpha1.APIServiceExportCRDSpec, s *apiextensionsv1.JSONSchemaProps) {
			p := specProp(s)["size"]
			p.Minimum = ptr(10.0)
			specProp(s)["size"] = p
		}, true, "v1: spec.size"},
		{"list item type change", func(_ *kubebindv1alpha1.APIServiceExportCRDSpec, s *apiextensionsv1.JSONSchemaProps) {
			specProp(s)["tags"] = apiextensionsv1.JSONSchemaProps{Type: "array", Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &apiextensionsv1.JSONSchemaProps{Type: "integer"}}}
		}, true, "v1: spec.tags[]"},
		{"map value type change", func(_ *kubebindv1alpha1.APIServiceExportCRDSpec, s *apiextensionsv1.JSONSchemaProps) {
			specProp(s)["labels"] = apiextensionsv1.JSONSchemaProps{Type: "object", AdditionalProperties: &apiextensionsv1.JSONSchemaPropsOrBool{Allows: true, Schema: &apiextensionsv1.JSONSchemaProps{Type: "integer"}}}
		}, true, "v1: spec.labels{}"},
		{"new validation rule", func(_ *kubebindv1alpha1.APIServiceExportCRDSpec, s *apiextensionsv1.JSONSchemaProps) {
			setSpec(s, func(p *apiextensionsv1.JSONSchemaProps) {
				p.XValidations = apiextensionsv1.ValidationRules{{Rule: "self.size < 50"}}
			})
		}, true, "v1: spec"},
		{"unknown fields no longer preserved", func(_ *kubebindv1alpha1.APIServiceExportCRDSpec, s *apiextensionsv1.JSONSchemaProps) {
			st := s.Properties["status"]
			st.XPreserveUnknownFields = nil
			s.Properties["status"] = st
		}, true, "v1: status"},
		{"new pattern", func(_ *kubebindv1alpha1.APIServiceExportCRDSpec, s *apiextensionsv1.JSONSchemaProps) {
			p := specProp(s)["name"]
			p.Pattern = "^[a-z]+$"
			specProp(s)["name"] = p
		}, true, "v1: spec.name"},
		{"scope change", func(c *kubebindv1alpha1.APIServiceExportCRDSpec, _ *apiextensionsv1.JSONSchemaProps) {
			c.Scope = apiextensionsv1.ClusterScoped
		}, true, "scope"},
		{"kind change", func(c *kubebindv1alpha1.APIServiceExportCRDSpec, _ *apiextensionsv1.JSONSchemaProps) {
			c.Names.Kind = "DB"
		}, true, "names"},
		{"status subresource removed", func(c *kubebindv1alpha1.APIServiceExportCRDSpec, _ *apiextensionsv1.JSONSchemaProps) {
			c.Versions = []kubebindv1alpha1.APIServiceExportVersion{{Name: "v1", Served: true, Storage: true}}
		}, true, "v1: subresources.status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			changes := Diff(spec(nil), spec(tt.mutate))
			breaking := BreakingChanges(spec(nil), spec(tt.mutate))
			if tt.mutate == nil {
				assert.Empty(t, changes)
				return
			}
			if tt.breaking {
				require.NotEmpty(t, breaking, "expected a breaking change, got %v", changes)
				assert.Equal(t, Breaking, changes[0].Severity, "breaking changes come first")
			} else {
				assert.Empty(t, breaking, "expected only additive changes")
				require.NotEmpty(t, changes, "an additive change is still reported")
			}
			var paths []string
			for _, c := range changes {
				if (c.Severity == Breaking) == tt.breaking {
					paths = append(paths, c.Path)
				}
			}
			assert.Contains(t, paths, tt.wantPath, "changes: %v", changes)
		})
	}
}

// FuzzDiff feeds arbitrary schemas: Diff must never panic, must find no
// change between a spec and itself, and breaking changes must come first.
func FuzzDiff(f *testing.F) {
	seed, _ := json.Marshal(baseSchema())
	f.Add(seed, seed)
	f.Add([]byte(`{"type":"object","properties":{"a":{"type":"string"}}}`), []byte(`{"type":"object"}`))
	f.Add([]byte(`{"items":{"type":"x"}}`), []byte(`{"items":[{}]}`))
	f.Add([]byte(`not json`), []byte(`{}`))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		mk := func(raw []byte) *kubebindv1alpha1.APIServiceExportCRDSpec {
			return &kubebindv1alpha1.APIServiceExportCRDSpec{Versions: []kubebindv1alpha1.APIServiceExportVersion{{Name: "v1", Served: true, Storage: true,
				Schema: kubebindv1alpha1.APIServiceExportSchema{}}}}
		}
		sa, sb := mk(a), mk(b)
		sa.Versions[0].Schema.OpenAPIV3Schema.Raw = a
		sb.Versions[0].Schema.OpenAPIV3Schema.Raw = b
		changes := Diff(sa, sb)
		seenAdditive := false
		for _, c := range changes {
			if c.Severity == Additive {
				seenAdditive = true
			} else if seenAdditive {
				t.Fatalf("breaking change after an additive one: %v", changes)
			}
			if strings.TrimSpace(c.Path) == "" {
				t.Fatalf("change without a path: %v", c)
			}
		}
		if _, err := decodeSchema(a); err == nil {
			if self := Diff(sa, sa); len(self) != 0 {
				t.Fatalf("a spec differs from itself: %v", self)
			}
		}
	})
}

func ptr[T any](v T) *T { return &v }
