package bind

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/contract"
)

// Step 6: the APIServiceExportRequests, created on the provider and
// watched until the provider accepts or refuses them.

func decodeRequest(raw runtime.RawExtension) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	if err := json.Unmarshal(raw.Raw, &u.Object); err != nil {
		return nil, hinted(err, "the provider returned a request that is not valid", "tell the provider's operators")
	}
	if u.GetName() == "" {
		return nil, hinted(nil, "the provider returned a request without a name", "tell the provider's operators")
	}
	u.SetAPIVersion(kubebindv1alpha1.SchemeGroupVersion.String())
	u.SetKind("APIServiceExportRequest")
	return u, nil
}

func createRequest(ctx context.Context, provider dynamic.Interface, ns string, req *unstructured.Unstructured) error {
	rc := provider.Resource(ExportRequests).Namespace(ns)
	req.SetNamespace(ns)
	_, err := rc.Create(ctx, req, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// Binding again: a failed earlier request is replaced, a
		// succeeded one is kept.
		old, gerr := rc.Get(ctx, req.GetName(), metav1.GetOptions{})
		if gerr == nil {
			if phase, _, _ := unstructured.NestedString(old.Object, "status", "phase"); phase == "Failed" {
				if err := rc.Delete(ctx, req.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
					return hinted(err, "cannot replace the failed request "+req.GetName(), "delete it on the provider and bind again")
				}
				_, err = rc.Create(ctx, req, metav1.CreateOptions{})
				return providerError(err, "creating request "+req.GetName())
			}
		}
		return nil
	}
	return providerError(err, "creating request "+req.GetName())
}

// waitRequest watches the request until the provider decides.
func waitRequest(ctx context.Context, provider dynamic.Interface, ns, name string, timeout time.Duration, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rc := provider.Resource(ExportRequests).Namespace(ns)
	last := ""
	return watchUntil(ctx, rc, name, func(u *unstructured.Unstructured) (bool, error) {
		phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
		// What a Pending request waits for, as the provider says it.
		line := phase
		if _, msg, _ := Condition(u, string(kubebindv1alpha1.APIServiceExportRequestConditionExportsReady)); phase == "Pending" && msg != "" {
			line += ": " + msg
		}
		if line != last && phase != "" && phase != "Succeeded" {
			_, _ = fmt.Fprintf(out, "  request %s: %s\n", name, line)
		}
		last = line
		switch phase {
		case "Succeeded":
			return true, nil
		case "Failed":
			msg, _, _ := unstructured.NestedString(u.Object, "status", "terminalMessage")
			return false, hinted(nil, fmt.Sprintf("the provider refused request %s: %s", name, msg), "choose another service, or ask the provider's operators")
		}
		return false, nil
	}, func() error {
		return hinted(nil, fmt.Sprintf("the provider did not handle request %s within %s", name, timeout), "check that the provider's backend is running")
	})
}

// Condition returns the status and message of u's condition of type
// condType, and whether u has it.
func Condition(u *unstructured.Unstructured, condType string) (status, message string, found bool) {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == condType {
			status, _ = m["status"].(string)
			message, _ = m["message"].(string)
			return status, message, true
		}
	}
	return "", "", false
}

// watchUntil gets the named object and then watches it until cond says
// done or fails; onTimeout explains a timeout.
func watchUntil(ctx context.Context, rc dynamic.ResourceInterface, name string, cond func(*unstructured.Unstructured) (bool, error), onTimeout func() error) error {
	for {
		list, err := rc.List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()})
		if err != nil {
			if ctx.Err() != nil {
				return onTimeout()
			}
			return err
		}
		for i := range list.Items {
			if done, err := cond(&list.Items[i]); done || err != nil {
				return err
			}
		}
		w, err := rc.Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String(), ResourceVersion: list.GetResourceVersion()})
		if err != nil {
			if ctx.Err() != nil {
				return onTimeout()
			}
			return err
		}
		for ev := range w.ResultChan() {
			if ev.Type == watch.Error {
				break
			}
			if u, ok := ev.Object.(*unstructured.Unstructured); ok {
				if done, err := cond(u); done || err != nil {
					w.Stop()
					return err
				}
			}
		}
		w.Stop()
		if ctx.Err() != nil {
			return onTimeout()
		}
	}
}

// exportClaims returns the permission claims of the export of a resource:
// what the user accepts by binding it.
func exportClaims(ctx context.Context, provider dynamic.Interface, ns, name string) []binderyv1alpha1.PermissionClaim {
	e, err := provider.Resource(Exports).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	settings, err := contract.ReadExport(e.GetAnnotations())
	if err != nil {
		return nil // the konnector reports a broken export
	}
	return settings.Claims
}
