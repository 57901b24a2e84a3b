// Package bindflow is the backend's HTTP side: the kube-bind v1alpha1
// binding flow that kubectl bind (Bindery's or kube-bind's) drives in the
// user's browser.
//
//	GET  /export     the BindingProvider document
//	GET  /authorize  starts an OIDC login for a CLI session
//	GET  /callback   ends the login and opens a session
//	GET  /resources  the selection page (needs a session)
//	GET  /bind       kube-bind's form (?group=&resource=): asks to confirm
//	POST /bind       binds a template or a resource (session + CSRF token)
//	POST /exchange   redeems a bind's one-time code (Bindery's CLI)
//
// A bind onboards the consumer cluster (namespace, ServiceAccount, RBAC,
// ClusterBinding) and issues a kubeconfig with an expiring token. Bindery's
// CLI, which starts the login with a code challenge (package bindprotocol),
// gets a one-time code at its loopback callback and redeems it over the
// back channel; kube-bind's CLI gets the base64 BindingResponse in the
// callback URL.
package bindflow

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/catalog"
	"github.com/bindery-dev/bindery/apis/contract"
	"github.com/bindery-dev/bindery/backend/internal/controller/templatestatus"
)

// Step 2: the user chooses a service from the catalogue (/resources) and
// confirms what it claims (/confirm).

// offer is one bindable service as the selection page shows it.
type offer struct {
	catalog.Service
	Ready   bool
	Problem string
	Claims  []string
	// Resources are the service's resources, in its order.
	Resources []offeredResource
}

// offeredResource is one resource of an offer.
type offeredResource struct {
	binderyv1alpha1.ExportedResource
	// Bound is how many objects of it a consumer may have per namespace;
	// 0, no bound.
	Bound int
}

func (h *Handler) offers(ctx context.Context) ([]offer, error) {
	templates := &binderyv1alpha1.APIServiceExportTemplateList{}
	if err := h.Client.List(ctx, templates); err != nil {
		return nil, fmt.Errorf("listing templates: %w", err)
	}
	crds := &apiextensionsv1.CustomResourceDefinitionList{}
	if err := h.Client.List(ctx, crds); err != nil {
		return nil, fmt.Errorf("listing CRDs: %w", err)
	}
	var out []offer
	for _, svc := range catalog.Build(templates.Items, crds.Items) {
		cond := templatestatus.Ready(templatestatus.Resources(svc.Spec, crds.Items), 0)
		o := offer{Service: svc, Ready: cond.Status == metav1.ConditionTrue}
		if !o.Ready {
			o.Problem = cond.Message
		}
		for _, c := range svc.Spec.PermissionClaims {
			o.Claims = append(o.Claims, contract.Describe(c))
		}
		for _, r := range svc.Spec.Resources {
			o.Resources = append(o.Resources, offeredResource{ExportedResource: r, Bound: svc.ExportSettings(r.Group, r.Resource).Bound(h.MaxObjectsPerNamespace)})
		}
		out = append(out, o)
	}
	return out, nil
}

func (h *Handler) resources(w http.ResponseWriter, r *http.Request) {
	s, ok := h.session(w, r, r.URL.Query().Get("s"))
	if !ok {
		return
	}
	offers, err := h.offers(r.Context())
	if err != nil {
		h.internal(w, r, err)
		return
	}
	h.render(w, http.StatusOK, "resources.html", map[string]any{
		"Provider": h.ProviderPrettyName, "Session": s, "Offers": offers,
	})
}

// findOffer finds the offer a bind names: a template (or exported CRD) by
// name, or, in kube-bind's form, the first offer of group/resource.
func findOffer(offers []offer, name, group, resource string) (offer, bool) {
	for _, o := range offers {
		if name != "" && o.Name == name {
			return o, true
		}
		if name == "" && resource != "" && o.Offers(group, resource) {
			return o, true
		}
	}
	return offer{}, false
}

// confirm answers kube-bind's GET /bind?s=&group=&resource= with a page
// that asks to confirm: a GET never binds, so a link cannot bind for the
// user.
func (h *Handler) confirm(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s, ok := h.session(w, r, q.Get("s"))
	if !ok {
		return
	}
	o, ok := h.chosenOffer(w, r, q)
	if !ok {
		return
	}
	h.render(w, http.StatusOK, "confirm.html", map[string]any{"Provider": h.ProviderPrettyName, "Session": s, "Offer": o})
}

// chosenOffer finds the offer that the template, or group and resource,
// parameters of v name, or writes a 404 page.
func (h *Handler) chosenOffer(w http.ResponseWriter, r *http.Request, v url.Values) (offer, bool) {
	offers, err := h.offers(r.Context())
	if err != nil {
		h.internal(w, r, err)
		return offer{}, false
	}
	o, found := findOffer(offers, v.Get("template"), v.Get("group"), v.Get("resource"))
	if !found {
		name := firstNonEmpty(v.Get("template"), v.Get("resource")+"."+v.Get("group"))
		h.fail(w, r, http.StatusNotFound, "This service is not offered", fmt.Sprintf("%s offers nothing named %q.", h.ProviderPrettyName, name), "Pick a service on the selection page.")
		return offer{}, false
	}
	return o, true
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" && v != "." {
			return v
		}
	}
	return ""
}
