// Package schemacompat classifies the difference between two CRD
// snapshots as additive or breaking, for the schema update policy of
// APIServiceExports: NonBreaking applies a change only when nothing in it
// is breaking.
//
// Breaking is anything that can make an object that was valid before
// invalid, or lose data a consumer stored: a removed field or served
// version, a type or format change, a new required field, a narrower enum
// or bound, a new validation rule, a changed scope or kind. Additive is the
// rest: new optional fields, new versions, new printer columns, looser
// bounds, new descriptions.
package schemacompat

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// Severity of a change.
type Severity string

const (
	Additive Severity = "Additive"
	Breaking Severity = "Breaking"
)

// Change is one difference between two snapshots.
type Change struct {
	Severity Severity
	// Path names where the change is, e.g. "v1: spec.size" or "scope".
	Path    string
	Message string
}

func (c Change) String() string { return fmt.Sprintf("%s: %s", c.Path, c.Message) }

// Diff lists the differences from old to new, breaking ones first.
func Diff(old, new *kubebindv1alpha1.APIServiceExportCRDSpec) []Change {
	d := &differ{}
	if old.Group != new.Group {
		d.breaking("group", "group changed from %q to %q", old.Group, new.Group)
	}
	if old.Scope != new.Scope {
		d.breaking("scope", "scope changed from %s to %s", old.Scope, new.Scope)
	}
	if old.Names.Kind != new.Names.Kind || old.Names.Plural != new.Names.Plural || old.Names.ListKind != new.Names.ListKind || old.Names.Singular != new.Names.Singular {
		d.breaking("names", "kind or resource names changed from %s/%s to %s/%s", old.Names.Kind, old.Names.Plural, new.Names.Kind, new.Names.Plural)
	} else if !slices.Equal(old.Names.ShortNames, new.Names.ShortNames) || !slices.Equal(old.Names.Categories, new.Names.Categories) {
		d.additive("names", "short names or categories changed")
	}

	newVersions := map[string]kubebindv1alpha1.APIServiceExportVersion{}
	for _, v := range new.Versions {
		newVersions[v.Name] = v
	}
	oldVersions := map[string]bool{}
	for _, ov := range old.Versions {
		oldVersions[ov.Name] = true
		nv, ok := newVersions[ov.Name]
		if !ok || (ov.Served && !nv.Served) {
			d.breaking(ov.Name, "served version %s was removed", ov.Name)
			continue
		}
		d.version(ov, nv)
	}
	for _, nv := range new.Versions {
		if !oldVersions[nv.Name] {
			d.additive(nv.Name, "version %s was added", nv.Name)
		}
	}
	sort.SliceStable(d.changes, func(i, j int) bool {
		return d.changes[i].Severity == Breaking && d.changes[j].Severity != Breaking
	})
	return d.changes
}

// BreakingChanges returns only the breaking changes of Diff.
func BreakingChanges(old, new *kubebindv1alpha1.APIServiceExportCRDSpec) []Change {
	var out []Change
	for _, c := range Diff(old, new) {
		if c.Severity == Breaking {
			out = append(out, c)
		}
	}
	return out
}

type differ struct {
	changes []Change
}

func (d *differ) breaking(path, format string, args ...any) {
	d.changes = append(d.changes, Change{Severity: Breaking, Path: path, Message: fmt.Sprintf(format, args...)})
}

func (d *differ) additive(path, format string, args ...any) {
	d.changes = append(d.changes, Change{Severity: Additive, Path: path, Message: fmt.Sprintf(format, args...)})
}

func (d *differ) version(ov, nv kubebindv1alpha1.APIServiceExportVersion) {
	v := ov.Name
	if ov.Subresources.Status != nil && nv.Subresources.Status == nil {
		d.breaking(v+": subresources.status", "the status subresource was removed")
	} else if ov.Subresources.Status == nil && nv.Subresources.Status != nil {
		d.breaking(v+": subresources.status", "the status subresource was added, so spec writes no longer update status")
	}
	if ov.Subresources.Scale != nil && nv.Subresources.Scale == nil {
		d.breaking(v+": subresources.scale", "the scale subresource was removed")
	}
	if !slices.EqualFunc(ov.AdditionalPrinterColumns, nv.AdditionalPrinterColumns, func(a, b apiextensionsv1.CustomResourceColumnDefinition) bool {
		return a == b
	}) {
		d.additive(v+": additionalPrinterColumns", "printer columns changed")
	}
	if !ov.Deprecated && nv.Deprecated {
		d.additive(v, "version %s was deprecated", v)
	}

	oldSchema, oerr := decodeSchema(ov.Schema.OpenAPIV3Schema.Raw)
	newSchema, nerr := decodeSchema(nv.Schema.OpenAPIV3Schema.Raw)
	if oerr != nil || nerr != nil {
		d.breaking(v+": schema", "the schema cannot be compared: %v", firstErr(oerr, nerr))
		return
	}
	d.schema(v+": ", "", oldSchema, newSchema)
}

func decodeSchema(raw []byte) (*apiextensionsv1.JSONSchemaProps, error) {
	s := &apiextensionsv1.JSONSchemaProps{}
	if len(raw) == 0 {
		return s, nil
	}
	if err := json.Unmarshal(raw, s); err != nil {
		return nil, err
	}
	return s, nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// schema compares one node of two schemas; path is the field path, e.g.
// "spec.size", or "" for the root.
func (d *differ) schema(prefix, path string, o, n *apiextensionsv1.JSONSchemaProps) {
	at := prefix + display(path)
	if o.Type != n.Type {
		d.breaking(at, "type changed from %q to %q", o.Type, n.Type)
		return
	}
	if o.Format != n.Format {
		d.breaking(at, "format changed from %q to %q", o.Format, n.Format)
	}
	if o.Nullable && !n.Nullable {
		d.breaking(at, "null is no longer allowed")
	}
	if isTrue(o.XPreserveUnknownFields) && !isTrue(n.XPreserveUnknownFields) {
		d.breaking(at, "unknown fields are no longer preserved")
	}
	if o.XIntOrString != n.XIntOrString {
		d.breaking(at, "x-kubernetes-int-or-string changed")
	}
	if o.Description != n.Description {
		d.additive(at, "description changed")
	}

	d.enum(at, o.Enum, n.Enum)
	d.bounds(at, o, n)
	d.rules(at, o.XValidations, n.XValidations)

	for _, r := range n.Required {
		if !slices.Contains(o.Required, r) {
			d.breaking(prefix+display(join(path, r)), "field %s is now required", r)
		}
	}
	for _, name := range sortedKeys(o.Properties) {
		op := o.Properties[name]
		np, ok := n.Properties[name]
		if !ok {
			d.breaking(prefix+display(join(path, name)), "field was removed")
			continue
		}
		d.schema(prefix, join(path, name), &op, &np)
	}
	for _, name := range sortedKeys(n.Properties) {
		if _, ok := o.Properties[name]; !ok && !slices.Contains(n.Required, name) {
			d.additive(prefix+display(join(path, name)), "optional field was added")
		}
	}
	if o.Items != nil && o.Items.Schema != nil {
		if n.Items == nil || n.Items.Schema == nil {
			d.breaking(at, "the schema of list items was removed")
		} else {
			d.schema(prefix, path+"[]", o.Items.Schema, n.Items.Schema)
		}
	}
	if o.AdditionalProperties != nil && o.AdditionalProperties.Schema != nil {
		if n.AdditionalProperties == nil || n.AdditionalProperties.Schema == nil {
			d.breaking(at, "the schema of map values was removed")
		} else {
			d.schema(prefix, path+"{}", o.AdditionalProperties.Schema, n.AdditionalProperties.Schema)
		}
	}
}

func (d *differ) enum(at string, o, n []apiextensionsv1.JSON) {
	if len(o) == 0 && len(n) > 0 {
		d.breaking(at, "values are now limited to an enum")
		return
	}
	if len(n) == 0 {
		if len(o) > 0 {
			d.additive(at, "the enum was removed")
		}
		return
	}
	newSet := map[string]bool{}
	for _, v := range n {
		newSet[string(v.Raw)] = true
	}
	for _, v := range o {
		if !newSet[string(v.Raw)] {
			d.breaking(at, "enum value %s was removed", string(v.Raw))
		}
	}
	if len(n) > len(o) {
		d.additive(at, "enum values were added")
	}
}

func (d *differ) bounds(at string, o, n *apiextensionsv1.JSONSchemaProps) {
	before := len(d.changes)
	tighterMax := func(name string, ov, nv *int64) {
		if nv != nil && (ov == nil || *nv < *ov) {
			d.breaking(at, "%s tightened to %d", name, *nv)
		}
	}
	tighterMin := func(name string, ov, nv *int64) {
		if nv != nil && (ov == nil || *nv > *ov) {
			d.breaking(at, "%s tightened to %d", name, *nv)
		}
	}
	tighterMax("maxLength", o.MaxLength, n.MaxLength)
	tighterMin("minLength", o.MinLength, n.MinLength)
	tighterMax("maxItems", o.MaxItems, n.MaxItems)
	tighterMin("minItems", o.MinItems, n.MinItems)
	tighterMax("maxProperties", o.MaxProperties, n.MaxProperties)
	tighterMin("minProperties", o.MinProperties, n.MinProperties)
	if n.Maximum != nil && (o.Maximum == nil || *n.Maximum < *o.Maximum) {
		d.breaking(at, "maximum tightened to %v", *n.Maximum)
	}
	if n.Minimum != nil && (o.Minimum == nil || *n.Minimum > *o.Minimum) {
		d.breaking(at, "minimum tightened to %v", *n.Minimum)
	}
	if n.Pattern != o.Pattern && n.Pattern != "" {
		d.breaking(at, "pattern changed to %q", n.Pattern)
	}
	if !o.UniqueItems && n.UniqueItems {
		d.breaking(at, "items must now be unique")
	}
	if !sameBounds(o, n) && len(d.changes) == before {
		d.additive(at, "validation bounds were loosened")
	}
}

func sameBounds(o, n *apiextensionsv1.JSONSchemaProps) bool {
	eqI := func(a, b *int64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
	eqF := func(a, b *float64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
	return eqI(o.MaxLength, n.MaxLength) && eqI(o.MinLength, n.MinLength) &&
		eqI(o.MaxItems, n.MaxItems) && eqI(o.MinItems, n.MinItems) &&
		eqI(o.MaxProperties, n.MaxProperties) && eqI(o.MinProperties, n.MinProperties) &&
		eqF(o.Maximum, n.Maximum) && eqF(o.Minimum, n.Minimum) &&
		o.Pattern == n.Pattern && o.UniqueItems == n.UniqueItems
}

func (d *differ) rules(at string, o, n apiextensionsv1.ValidationRules) {
	for _, r := range n {
		if !slices.ContainsFunc(o, func(x apiextensionsv1.ValidationRule) bool { return x.Rule == r.Rule }) {
			d.breaking(at, "validation rule %q was added", r.Rule)
		}
	}
}

func isTrue(b *bool) bool { return b != nil && *b }

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func display(path string) string {
	if path == "" {
		return "<root>"
	}
	return path
}

func sortedKeys(m map[string]apiextensionsv1.JSONSchemaProps) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
