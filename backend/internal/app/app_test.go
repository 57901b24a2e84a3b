package app_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"testing"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/bindery-dev/bindery/backend/internal/app"
	"github.com/bindery-dev/bindery/backend/internal/consumer"
	"github.com/bindery-dev/bindery/backend/internal/options"
	"github.com/bindery-dev/bindery/backend/internal/scheme"
	"github.com/bindery-dev/bindery/test/framework"
)

func TestMain(m *testing.M) { framework.Main(m) }

// TestBackendWithEmbeddedIssuer runs the whole backend, as bindery-backend
// does, with the embedded issuer: a login and a bind, then the consumer's
// export request with the kubeconfig it got.
func TestBackendWithEmbeddedIssuer(t *testing.T) {
	p := framework.StartControlPlane(t)
	p.OfferDatabases(t)

	port, metricsPort := framework.FreePort(t), framework.FreePort(t)
	o := app.Options{Controllers: options.NewControllers(), Server: options.NewServer()}
	o.Controllers.LeaderElection = false
	o.Controllers.MetricsAddr = "127.0.0.1:" + strconv.Itoa(metricsPort)
	o.Controllers.HealthAddr = "0"
	o.Server.ListenAddress = "127.0.0.1:" + strconv.Itoa(port)
	o.Server.OIDCIssuer = options.EmbeddedIssuer
	require.NoError(t, o.Controllers.Validate())
	require.NoError(t, o.Server.Validate())
	external := o.Server.ExternalURL
	require.Equal(t, "http://localhost:"+strconv.Itoa(port), external)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := zap.New(zap.WriteTo(p.LogWriter("bindery-backend")), zap.UseDevMode(true))
	go func() { done <- app.Run(ctx, p.Config, o, log) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("the backend did not stop")
		}
	})
	framework.Eventually(t, func() (bool, string) {
		resp, err := http.Get(external + "/healthz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	}, framework.WaitTimeout)

	t.Run("metrics need a caller allowed to get /metrics", func(t *testing.T) {
		framework.CheckMetricsAuthorized(t, p.Cluster, "https://127.0.0.1:"+strconv.Itoa(metricsPort)+"/metrics")
	})

	// The CLI's loopback callback.
	responses := make(chan string, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { responses <- r.URL.Query().Get("response") })}
	go srv.Serve(ln) //nolint:errcheck
	defer srv.Close()

	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	b := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	resp, err := b.Get(external + "/authorize?" + url.Values{"u": {"http://" + ln.Addr().String() + "/callback"}, "s": {"s1"}, "c": {"c1"}}.Encode())
	require.NoError(t, err)
	body := framework.ReadBody(resp)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Contains(t, body, "Development identity provider")
	forms, err := framework.Forms(body, resp.Request.URL)
	require.NoError(t, err)
	forms[0].Values.Set("username", "alice")
	resp, err = b.PostForm(forms[0].Action, forms[0].Values)
	require.NoError(t, err)
	body = framework.ReadBody(resp)
	require.Equal(t, "/resources", resp.Request.URL.Path, body)
	forms, err = framework.Forms(body, resp.Request.URL)
	require.NoError(t, err)
	require.Len(t, forms, 1)
	resp, err = b.PostForm(forms[0].Action, forms[0].Values)
	require.NoError(t, err)
	resp.Body.Close()

	raw, err := base64.StdEncoding.DecodeString(<-responses)
	require.NoError(t, err)
	br := &kubebindv1alpha1.BindingResponse{}
	require.NoError(t, json.Unmarshal(raw, br))
	cfg, err := clientcmd.RESTConfigFromKubeConfig(br.Kubeconfig)
	require.NoError(t, err)
	kc, err := clientcmd.Load(br.Kubeconfig)
	require.NoError(t, err)
	ns := kc.Contexts[kc.CurrentContext].Namespace

	// The consumer's credentials create the request; the controllers
	// export the CRD.
	cc, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	require.NoError(t, err)
	req := &kubebindv1alpha1.APIServiceExportRequest{}
	require.NoError(t, json.Unmarshal(br.Requests[0].Raw, req))
	req.Namespace = ns
	assert.Equal(t, "postgres", req.Annotations[consumer.TemplateAnnotation], "Bindery's CLI keeps the template annotation")
	require.NoError(t, cc.Create(t.Context(), req))
	framework.Eventually(t, func() (bool, string) {
		got := &kubebindv1alpha1.APIServiceExportRequest{}
		if err := cc.Get(t.Context(), client.ObjectKeyFromObject(req), got); err != nil {
			return false, err.Error()
		}
		return got.Status.Phase == kubebindv1alpha1.APIServiceExportRequestPhaseSucceeded, fmt.Sprintf("phase %q: %s", got.Status.Phase, got.Status.TerminalMessage)
	}, framework.WaitTimeout)
	require.NoError(t, cc.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "databases.db.example.com"}, &kubebindv1alpha1.APIServiceExport{}))
}
