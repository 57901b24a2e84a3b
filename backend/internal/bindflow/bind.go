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
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindery-dev/bindery/apis/bindprotocol"
	"github.com/bindery-dev/bindery/apis/catalog"
	"github.com/bindery-dev/bindery/apis/providername"
	"github.com/bindery-dev/bindery/backend/internal/auth/session"
	"github.com/bindery-dev/bindery/backend/internal/consumer"
	"github.com/bindery-dev/bindery/backend/internal/onboarding"
)

// Step 3: /bind onboards the consumer cluster and answers the CLI, with a
// one-time code (redeemed at /exchange) or, for kube-bind's CLI, the
// response itself.

func (h *Handler) bind(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, http.StatusBadRequest, "The form is not valid", err.Error(), "Go back and try again.")
		return
	}
	f := r.PostForm
	s, ok := h.session(w, r, f.Get("s"))
	if !ok {
		return
	}
	if subtle.ConstantTimeCompare([]byte(f.Get("csrf")), []byte(s.CSRF)) != 1 || !sameOrigin(r, h.ExternalURL) {
		h.fail(w, r, http.StatusForbidden, "This request did not come from the selection page", "The form's security token is missing or wrong.", "Open the selection page again and choose there.")
		return
	}
	o, ok := h.chosenOffer(w, r, f)
	if !ok {
		return
	}
	if !o.Ready {
		h.fail(w, r, http.StatusConflict, "This service cannot be bound right now", o.Problem, "Try again later, or tell the provider's operators.")
		return
	}

	to, _ := url.Parse(s.Redirect) // checked at /authorize
	v := to.Query()
	if s.Challenge != "" {
		// Bindery's CLI: a one-time code, which only the CLI that holds
		// the verifier can redeem at /exchange; no credential in the URL.
		code, err := h.Codec.Encode(codeName, grant{Session: s, Offer: o.Name, Expires: h.now().Add(codeTTL)})
		if err != nil {
			h.internal(w, r, err)
			return
		}
		v.Set(bindprotocol.CodeParam, code)
	} else {
		// kube-bind's CLI understands only the BindingResponse in the URL.
		response, err := h.complete(r.Context(), s, o, "")
		if err != nil {
			h.refuse(w, r, err)
			return
		}
		v.Set(bindprotocol.ResponseParam, base64.StdEncoding.EncodeToString(response))
	}
	// One bind per login: the session ends here.
	h.Codec.ClearCookie(w, sessionCookie(s.SessionID))
	to.RawQuery = v.Encode()
	noCache(w)
	http.Redirect(w, r, to.String(), http.StatusSeeOther)
}

// complete binds offer o for session s: it onboards the consumer cluster
// (namespace, ServiceAccount, RBAC, ClusterBinding), records the bind
// (once per session, with the cluster key), and issues a kubeconfig. It
// returns the BindingResponse, or a *refusal.
func (h *Handler) complete(ctx context.Context, s session.Session, o offer, clusterKey string) ([]byte, error) {
	who := providername.Consumer{Issuer: s.Issuer, Subject: s.Subject, ClusterID: s.ClusterID}
	ns := providername.ClusterNamespace(who)
	exists, err := onboarding.CheckClusterKey(ctx, h.Writer, ns, clusterKey)
	if err != nil {
		return nil, bindRefusal(err)
	}
	if !exists {
		if err := h.checkNewClusters(ctx, who); err != nil {
			return nil, err
		}
	}
	res, err := onboarding.Ensure(ctx, h.Writer, who, h.ProviderPrettyName)
	if err != nil {
		return nil, err
	}
	if err := onboarding.RecordBind(ctx, h.Writer, res.Namespace, onboarding.Bind{SessionID: s.SessionID, ClusterKey: clusterKey, Name: s.Name, Groups: s.Groups, Until: s.Expires, Now: h.now()}); err != nil {
		return nil, bindRefusal(err)
	}
	kubeconfig, err := h.Credentials.Issue(ctx, res.Namespace)
	if err != nil {
		return nil, err
	}
	response, err := bindingResponse(s, o, kubeconfig)
	if err != nil {
		return nil, err
	}
	h.Log.Info("Bound", "service", o.Name, "namespace", res.Namespace, "subject", s.Subject, "cluster", s.ClusterID)
	return response, nil
}

// checkNewClusters refuses to onboard another new cluster of a user who
// onboarded NewClustersPerMinute of them within the last minute: each is a
// namespace, a ServiceAccount and grants on the provider.
func (h *Handler) checkNewClusters(ctx context.Context, who providername.Consumer) error {
	if h.NewClustersPerMinute <= 0 {
		return nil
	}
	list := &corev1.NamespaceList{}
	if err := h.Writer.List(ctx, list, client.MatchingLabels{consumer.SubjectLabel: onboarding.SubjectHash(who.Issuer, who.Subject)}); err != nil {
		return fmt.Errorf("listing the clusters of %s: %w", who.Subject, err)
	}
	recent := 0
	for _, n := range list.Items {
		if h.now().Sub(n.CreationTimestamp.Time) < time.Minute {
			recent++
		}
	}
	if recent >= h.NewClustersPerMinute {
		return &refusal{http.StatusTooManyRequests, "Too many new clusters", fmt.Sprintf("You bound %d new clusters within the last minute; this provider accepts %d a minute.", recent, h.NewClustersPerMinute), "Wait a minute and run kubectl bind again."}
	}
	return nil
}

// requestMeta is the metadata of a request in a BindingResponse. It is a
// superset of kube-bind's NameObjectMeta: Bindery's CLI keeps the
// annotation that names the template, kube-bind's ignores it.
type requestMeta struct {
	Name        string            `json:"name"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type request struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        requestMeta                                  `json:"metadata"`
	Spec            kubebindv1alpha1.APIServiceExportRequestSpec `json:"spec"`
}

// bindingResponse builds the BindingResponse for a bound offer: one
// request with all of the offer's resources.
func bindingResponse(s session.Session, o offer, kubeconfig []byte) ([]byte, error) {
	req := request{
		TypeMeta: metav1.TypeMeta{APIVersion: kubebindv1alpha1.SchemeGroupVersion.String(), Kind: "APIServiceExportRequest"},
		Metadata: requestMeta{Name: o.Name, Annotations: map[string]string{consumer.TemplateAnnotation: o.Name}},
	}
	if o.Source == catalog.SourceExportedCRD {
		req.Metadata.Annotations = nil
	}
	for _, res := range o.Spec.Resources {
		req.Spec.Resources = append(req.Spec.Resources, kubebindv1alpha1.APIServiceExportRequestResource{
			GroupResource: kubebindv1alpha1.GroupResource{Group: res.Group, Resource: res.Resource},
			Versions:      res.Versions,
		})
	}
	raw, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encoding the request: %w", err)
	}
	return json.Marshal(&kubebindv1alpha1.BindingResponse{
		TypeMeta: metav1.TypeMeta{APIVersion: kubebindv1alpha1.SchemeGroupVersion.String(), Kind: "BindingResponse"},
		Authentication: kubebindv1alpha1.BindingResponseAuthentication{
			OAuth2CodeGrant: &kubebindv1alpha1.BindingResponseAuthenticationOAuth2CodeGrant{SessionID: s.SessionID, ID: s.Issuer + "/" + s.Subject},
		},
		Kubeconfig: kubeconfig,
		Requests:   []runtime.RawExtension{{Raw: raw}},
	})
}
