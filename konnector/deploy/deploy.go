// Package deploy renders the konnector's manifests from its Helm chart,
// the one source of them: `helm install` uses the chart in
// charts/konnector (a link to chart/ here), and kubectl bind renders the
// same templates with this package.
//
// The templates use only what Go's text/template and Helm share (no Sprig
// functions, no named templates), which Render enforces by parsing them
// without any extra functions.
package deploy

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"text/template"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

//go:embed chart/Chart.yaml chart/values.yaml chart/templates/*.yaml
var chart embed.FS

// ClusterRoleName is the konnector's ClusterRole in the chart
// (templates/rbac.yaml): what it may do with the bound resources and the
// claimed kinds.
const ClusterRoleName = "bindery-konnector"

// ClaimCopyPolicyName is the konnector's ValidatingAdmissionPolicy and
// its binding in the chart (templates/policy.yaml): its grant of claimed
// kinds writes only its claim copies.
const ClaimCopyPolicyName = "bindery-konnector-claim-copies"

// Binding is one bound resource the konnector is granted.
type Binding struct {
	// Name is the CRD name, <resource>.<group>.
	Name     string `json:"name"`
	Group    string `json:"group"`
	Resource string `json:"resource"`
}

// Options override the chart's default values.
type Options struct {
	// Namespace is the release namespace (kube-bind by default).
	Namespace string
	// Image, when set, is the full image reference (repository:tag).
	Image string
	// Bindings are the bound resources.
	Bindings []Binding
	// ClaimedResources are the kinds claims copy into the consumer
	// cluster: "secrets" and/or "configmaps".
	ClaimedResources []string
	// ReadOnlyClaimedResources are the kinds claims only copy from the
	// consumer cluster: read, never written, there.
	ReadOnlyClaimedResources []string
}

// ChartVersion is the chart's appVersion, the konnector version it deploys.
func ChartVersion() (string, error) {
	raw, err := chart.ReadFile("chart/Chart.yaml")
	if err != nil {
		return "", err
	}
	var c struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(raw, &c); err != nil {
		return "", fmt.Errorf("reading Chart.yaml: %w", err)
	}
	return c.AppVersion, nil
}

// Render renders the chart's templates into objects, in a stable order.
func Render(o Options) ([]*unstructured.Unstructured, error) {
	values, err := values(o)
	if err != nil {
		return nil, err
	}
	ns := o.Namespace
	if ns == "" {
		ns = "kube-bind"
	}
	data := map[string]any{
		"Values":  values,
		"Release": map[string]any{"Namespace": ns, "Name": "konnector"},
	}
	names, err := fs.Glob(chart, "chart/templates/*.yaml")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []*unstructured.Unstructured
	for _, name := range names {
		raw, err := chart.ReadFile(name)
		if err != nil {
			return nil, err
		}
		t, err := template.New(path.Base(name)).Option("missingkey=error").Parse(string(raw))
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", name, err)
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, data); err != nil {
			return nil, fmt.Errorf("rendering %s: %w", name, err)
		}
		for _, doc := range strings.Split(buf.String(), "\n---\n") {
			obj := map[string]any{}
			if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
				return nil, fmt.Errorf("rendering %s: %w", name, err)
			}
			if len(obj) == 0 {
				continue
			}
			out = append(out, &unstructured.Unstructured{Object: obj})
		}
	}
	return out, nil
}

// values are the chart's defaults with o applied.
func values(o Options) (map[string]any, error) {
	raw, err := chart.ReadFile("chart/values.yaml")
	if err != nil {
		return nil, err
	}
	v := map[string]any{}
	if err := yaml.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("reading values.yaml: %w", err)
	}
	if o.Image != "" {
		i := strings.LastIndex(o.Image, ":")
		if i <= 0 || i == len(o.Image)-1 || strings.Contains(o.Image[i:], "/") {
			return nil, fmt.Errorf("image %q must be repository:tag", o.Image)
		}
		repo, tag := o.Image[:i], o.Image[i+1:]
		image := v["image"].(map[string]any)
		image["repository"], image["tag"] = repo, tag
	}
	bindings := make([]any, 0, len(o.Bindings))
	for _, b := range o.Bindings {
		bindings = append(bindings, map[string]any{"name": b.Name, "group": b.Group, "resource": b.Resource})
	}
	v["bindings"] = bindings
	for key, kinds := range map[string][]string{"claimedResources": o.ClaimedResources, "readOnlyClaimedResources": o.ReadOnlyClaimedResources} {
		claimed := make([]any, 0, len(kinds))
		for _, r := range kinds {
			if r != "secrets" && r != "configmaps" {
				return nil, fmt.Errorf("claimed resource %q: only secrets and configmaps can be claimed", r)
			}
			claimed = append(claimed, r)
		}
		v[key] = claimed
	}
	return v, nil
}

// chartResources are the resources of the kinds the chart renders.
var chartResources = map[string]string{
	"ServiceAccount": "serviceaccounts", "ClusterRole": "clusterroles", "ClusterRoleBinding": "clusterrolebindings",
	"Role": "roles", "RoleBinding": "rolebindings", "Deployment": "deployments",
	"ValidatingAdmissionPolicy": "validatingadmissionpolicies", "ValidatingAdmissionPolicyBinding": "validatingadmissionpolicybindings",
}

// Resource returns the resource of a rendered object, for a dynamic
// client to apply it.
func Resource(o *unstructured.Unstructured) (schema.GroupVersionResource, error) {
	gv, err := schema.ParseGroupVersion(o.GetAPIVersion())
	if err != nil {
		return schema.GroupVersionResource{}, err
	}
	r, ok := chartResources[o.GetKind()]
	if !ok {
		return schema.GroupVersionResource{}, fmt.Errorf("the konnector chart renders a %s, which is not known here", o.GetKind())
	}
	return gv.WithResource(r), nil
}
