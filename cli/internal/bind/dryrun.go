package bind

import (
	"context"
	"fmt"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/bindery-dev/bindery/apis/contract"
	"github.com/bindery-dev/bindery/konnector/deploy"
)

// --dry-run: what a bind would create, printed instead of created.

// printDryRun prints what a bind would create: the Secret (without the
// credentials), the requests on the provider, the bindings and the
// konnector's objects.
func printDryRun(ctx context.Context, consumer dynamic.Interface, resp *kubebindv1alpha1.BindingResponse, o ApplyOptions, host, providerNS string, plan map[string]string) error {
	var objs []*unstructured.Unstructured
	secret := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"namespace": o.Namespace, "name": SecretName(host, providerNS)},
		"data":     map[string]any{"kubeconfig": "(the provider's kubeconfig, not shown)"},
	}}
	objs = append(objs, secret)
	var bound []deploy.Binding
	for _, raw := range resp.Requests {
		req, err := decodeRequest(raw)
		if err != nil {
			return err
		}
		req.SetNamespace(providerNS)
		objs = append(objs, req)
		resources, _, _ := unstructured.NestedSlice(req.Object, "spec", "resources")
		for _, r := range resources {
			m, _ := r.(map[string]any)
			export := fmt.Sprintf("%v.%v", m["resource"], m["group"])
			b, err := bindingObject(plan[export], export, o.Namespace, secret.GetName(), contract.BindingSettings{Namespaces: o.Namespaces})
			if err != nil {
				return err
			}
			objs = append(objs, b)
			bound = append(bound, deploy.Binding{Name: export, Group: fmt.Sprint(m["group"]), Resource: fmt.Sprint(m["resource"])})
		}
	}
	if !o.SkipKonnector {
		konnector, err := KonnectorManifests(ctx, consumer, o.Namespace, o.KonnectorImage, bound...)
		if err != nil {
			return err
		}
		objs = append(objs, konnector...)
	}
	for _, obj := range objs {
		raw, err := yaml.Marshal(obj.Object)
		if err != nil {
			return err
		}
		where := "consumer"
		if obj.GetKind() == "APIServiceExportRequest" {
			where = "provider"
		}
		_, _ = fmt.Fprintf(o.Out, "---\n# in the %s cluster\n%s", where, raw)
	}
	return nil
}
