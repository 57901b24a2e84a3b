package crds

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

//go:embed *.yaml
var files embed.FS

// FieldManager is the server-side apply field manager of the installer.
const FieldManager = "bindery-crd-installer"

// The CRDs, by group and plural resource.
var (
	APIServiceExports         = schema.GroupResource{Group: "kube-bind.io", Resource: "apiserviceexports"}
	APIServiceExportRequests  = schema.GroupResource{Group: "kube-bind.io", Resource: "apiserviceexportrequests"}
	APIServiceNamespaces      = schema.GroupResource{Group: "kube-bind.io", Resource: "apiservicenamespaces"}
	ClusterBindings           = schema.GroupResource{Group: "kube-bind.io", Resource: "clusterbindings"}
	APIServiceBindings        = schema.GroupResource{Group: "kube-bind.io", Resource: "apiservicebindings"}
	APIServiceExportTemplates = schema.GroupResource{Group: "bindery.dev", Resource: "apiserviceexporttemplates"}
)

// Provider are the CRDs the backend needs on the control plane.
var Provider = []schema.GroupResource{
	APIServiceExports, APIServiceExportRequests, APIServiceNamespaces, ClusterBindings, APIServiceExportTemplates,
}

// Consumer are the CRDs the konnector needs in an app cluster.
var Consumer = []schema.GroupResource{APIServiceBindings}

// Get returns the embedded CRDs for the given resources, in that order.
func Get(grs ...schema.GroupResource) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	all, err := All()
	if err != nil {
		return nil, err
	}
	byName := map[schema.GroupResource]*apiextensionsv1.CustomResourceDefinition{}
	for _, crd := range all {
		byName[schema.GroupResource{Group: crd.Spec.Group, Resource: crd.Spec.Names.Plural}] = crd
	}
	out := make([]*apiextensionsv1.CustomResourceDefinition, 0, len(grs))
	for _, gr := range grs {
		crd, ok := byName[gr]
		if !ok {
			return nil, fmt.Errorf("no embedded CRD for %s", gr)
		}
		out = append(out, crd)
	}
	return out, nil
}

// All returns every embedded CRD, sorted by name.
func All() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	names, err := fs.Glob(files, "*.yaml")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make([]*apiextensionsv1.CustomResourceDefinition, 0, len(names))
	for _, name := range names {
		data, err := files.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("reading embedded %s: %w", name, err)
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(data, crd); err != nil {
			return nil, fmt.Errorf("decoding embedded %s: %w", name, err)
		}
		out = append(out, crd)
	}
	return out, nil
}

// Install creates or upgrades the given CRDs with server-side apply and
// waits until every one is Established. It is what the backend and the
// konnector call at start.
func Install(ctx context.Context, c client.Client, grs ...schema.GroupResource) error {
	list, err := Get(grs...)
	if err != nil {
		return err
	}
	for _, crd := range list {
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(crd)
		if err != nil {
			return fmt.Errorf("converting CRD %s: %w", crd.Name, err)
		}
		obj := &unstructured.Unstructured{Object: u}
		obj.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
		unstructured.RemoveNestedField(obj.Object, "status")
		unstructured.RemoveNestedField(obj.Object, "metadata", "creationTimestamp")
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
			return fmt.Errorf("applying CRD %s: %w", crd.Name, err)
		}
	}
	for _, crd := range list {
		if err := WaitEstablished(ctx, c, crd.Name); err != nil {
			return err
		}
	}
	return nil
}

// Established reports whether crd has the Established condition True.
func Established(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established {
			return c.Status == apiextensionsv1.ConditionTrue
		}
	}
	return false
}

// WaitEstablished waits until the named CRD is Established and c can map
// its kinds, or ctx ends.
func WaitEstablished(ctx context.Context, c client.Client, name string) error {
	var last string
	err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := c.Get(ctx, client.ObjectKey{Name: name}, crd); err != nil {
			last = err.Error()
			return false, nil
		}
		if Established(crd) {
			// Established comes a moment before discovery serves the
			// resource; wait for the client's REST mapper to see it too,
			// so that the caller's next request does not fail with
			// "no matches for kind".
			for _, v := range crd.Spec.Versions {
				if !v.Served {
					continue
				}
				gk := schema.GroupKind{Group: crd.Spec.Group, Kind: crd.Spec.Names.Kind}
				if _, err := c.RESTMapper().RESTMapping(gk, v.Name); err != nil {
					last = "not in discovery yet: " + err.Error()
					return false, nil
				}
			}
			return true, nil
		}
		for _, cond := range crd.Status.Conditions {
			if cond.Type == apiextensionsv1.NamesAccepted && cond.Status == apiextensionsv1.ConditionFalse {
				last = "names not accepted: " + cond.Message
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("CRD %s not established (%s): %w", name, last, err)
	}
	return nil
}
