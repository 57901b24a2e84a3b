// Package app assembles bindery-backend: the CRDs, the controllers and the
// HTTP binding flow, on one controller-runtime manager. The controllers run
// on the elected leader; every replica serves HTTP.
package app

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/go-logr/logr"
	"github.com/gorilla/mux"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/bindery-dev/bindery/apis/controllerqueue"
	"github.com/bindery-dev/bindery/apis/crds"
	"github.com/bindery-dev/bindery/apis/metricsauth"
	"github.com/bindery-dev/bindery/backend/internal/access"
	"github.com/bindery-dev/bindery/backend/internal/auth/issuer"
	"github.com/bindery-dev/bindery/backend/internal/auth/oidclogin"
	"github.com/bindery-dev/bindery/backend/internal/auth/session"
	"github.com/bindery-dev/bindery/backend/internal/bindflow"
	"github.com/bindery-dev/bindery/backend/internal/controller/clustergrant"
	"github.com/bindery-dev/bindery/backend/internal/controller/clusterhealth"
	"github.com/bindery-dev/bindery/backend/internal/controller/clusterobjects"
	"github.com/bindery-dev/bindery/backend/internal/controller/deprovision"
	"github.com/bindery-dev/bindery/backend/internal/controller/exportrequest"
	"github.com/bindery-dev/bindery/backend/internal/controller/exportupdate"
	"github.com/bindery-dev/bindery/backend/internal/controller/servicenamespace"
	"github.com/bindery-dev/bindery/backend/internal/controller/templatestatus"
	"github.com/bindery-dev/bindery/backend/internal/credentials"
	"github.com/bindery-dev/bindery/backend/internal/options"
	"github.com/bindery-dev/bindery/backend/internal/scheme"
)

// Fields of the keys Secret used by the embedded issuer.
const (
	issuerKeyField    = "embedded-issuer-key"
	issuerSecretField = "embedded-client-secret"
)

// Options are all of the backend's flags.
type Options struct {
	Controllers *options.Controllers
	Server      *options.Server
}

// Run runs the backend until ctx ends.
func Run(ctx context.Context, cfg *rest.Config, o Options, log logr.Logger) error {
	direct, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		return fmt.Errorf("creating client: %w", err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("creating clientset: %w", err)
	}

	// Say at once, and all of it, what is missing, rather than fail
	// later on one request after another.
	installCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	perms := RequiredPermissions
	leaseNS := o.Controllers.LeaderElectionNamespace
	if o.Controllers.LeaderElection {
		if leaseNS == "" {
			leaseNS = o.Server.Namespace
		}
		perms = append(append([]Permission(nil), perms...), LeaderElectionPermissions...)
	}
	if err := CheckPermissions(installCtx, kube, leaseNS, perms); err != nil {
		return err
	}

	// The CRDs are installed before the manager starts, so that its
	// caches find every type.
	if err := crds.Install(installCtx, direct, crds.Provider...); err != nil {
		return fmt.Errorf("installing CRDs: %w", err)
	}
	log.Info("CRDs installed or up to date")

	syncPeriod := o.Controllers.SyncPeriod
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Controller:              controllerqueue.Config(),
		Scheme:                  scheme.Scheme,
		Logger:                  log,
		Metrics:                 metricsserver.Options{BindAddress: o.Controllers.MetricsAddr, SecureServing: o.Controllers.MetricsAddr != "0", FilterProvider: metricsauth.WithAuthenticationAndAuthorization},
		HealthProbeBindAddress:  o.Controllers.HealthAddr,
		LeaderElection:          o.Controllers.LeaderElection,
		LeaderElectionID:        o.Controllers.LeaderElectionID,
		LeaderElectionNamespace: o.Controllers.LeaderElectionNamespace,
		Cache: cache.Options{
			SyncPeriod: &syncPeriod,
			// Only the kubeconfig Secrets the backend writes are watched.
			ByObject: map[client.Object]cache.ByObject{
				&corev1.Secret{}: {Label: labels.SelectorFromSet(labels.Set{credentials.ManagedLabel: "true"})},
			},
		},
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}

	creds, err := issuerOf(cfg, kube, direct, o.Server)
	if err != nil {
		return err
	}
	claimable, claimableResources, err := claimableCache(installCtx, mgr, kube, leaseNS)
	if err != nil {
		return err
	}
	rec := mgr.GetEventRecorder("bindery-backend")
	serviceNamespaces := &servicenamespace.Reconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: rec,
		Claimable: claimable, ClaimableResources: claimableResources,
		MaxObjectsPerNamespace: o.Controllers.MaxObjectsPerNamespace,
	}
	for name, setup := range map[string]func(ctrl.Manager) error{
		"export request":    (&exportrequest.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: rec}).SetupWithManager,
		"export update":     (&exportupdate.Reconciler{Client: mgr.GetClient(), Recorder: rec}).SetupWithManager,
		"service namespace": serviceNamespaces.SetupWithManager,
		"cluster objects": (&clusterobjects.Reconciler{
			Client: mgr.GetClient(), Cache: mgr.GetCache(), APIReader: mgr.GetAPIReader(),
			MaxObjectsPerNamespace: o.Controllers.MaxObjectsPerNamespace,
		}).SetupWithManager,
		"cluster grant":   (&clustergrant.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader()}).SetupWithManager,
		"cluster health":  (&clusterhealth.Reconciler{Client: mgr.GetClient(), Recorder: rec, DefaultInterval: o.Controllers.HeartbeatInterval}).SetupWithManager,
		"template status": (&templatestatus.Reconciler{Client: mgr.GetClient()}).SetupWithManager,
		"token rotation": (&credentials.Rotator{
			Issuer: creds, Recorder: rec, GracePeriod: o.Server.ConsumerGracePeriod,
			Allowed: access.AllowList{Users: o.Server.AllowedUsers, Groups: o.Server.AllowedGroups},
		}).SetupWithManager,
	} {
		if err := setup(mgr); err != nil {
			return fmt.Errorf("setting up the %s controller: %w", name, err)
		}
	}
	if after := o.Server.DeprovisionAfter; after > 0 {
		if err := (&deprovision.Reconciler{Client: mgr.GetClient(), Recorder: rec, After: after}).SetupWithManager(mgr); err != nil {
			return fmt.Errorf("setting up the deprovision controller: %w", err)
		}
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return err
	}

	router, err := newRouter(ctx, direct, mgr.GetClient(), creds, o, log)
	if err != nil {
		return err
	}
	if err := mgr.Add(&httpServer{opts: o.Server, handler: router, log: log}); err != nil {
		return err
	}
	log.Info("Starting", "leaderElection", o.Controllers.LeaderElection, "externalURL", o.Server.ExternalURL)
	return mgr.Start(ctx)
}

// claimableCache returns a cache of the metadata of the Secrets, and of
// the ConfigMaps when the backend may read them (the chart's
// claimedResources), in every namespace: the grants of claims by label
// selector follow their labels. It runs with the manager.
func claimableCache(ctx context.Context, mgr ctrl.Manager, kube kubernetes.Interface, namespace string) (cache.Cache, []string, error) {
	resources := []string{"secrets"}
	if CheckPermissions(ctx, kube, namespace, []Permission{{Verb: "list", Resource: "configmaps"}, {Verb: "watch", Resource: "configmaps"}}) == nil {
		resources = append(resources, "configmaps")
	}
	c, err := servicenamespace.NewClaimableCache(mgr)
	return c, resources, err
}

func issuerOf(cfg *rest.Config, kube kubernetes.Interface, direct client.Client, o *options.Server) (*credentials.Issuer, error) {
	server := o.ExternalAddress
	if server == "" {
		server = cfg.Host
	}
	ca := cfg.CAData
	file := o.ExternalCAFile
	if file == "" && len(ca) == 0 {
		file = cfg.CAFile
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("reading the external CA: %w", err)
		}
		ca = b
	}
	return &credentials.Issuer{Client: direct, Kube: kube, Server: server, CA: ca, TTL: o.TokenTTL}, nil
}

// newRouter builds the HTTP routes: the binding flow and, with
// --oidc-issuer=embedded, the development issuer under /oidc.
func newRouter(ctx context.Context, direct, cached client.Client, creds *credentials.Issuer, o Options, log logr.Logger) (http.Handler, error) {
	s := o.Server
	if err := ensureNamespace(ctx, direct, s.Namespace); err != nil {
		return nil, err
	}
	var keys session.Keys
	var err error
	if s.CookieSigningKey != "" {
		keys, err = session.KeysFromBase64(s.CookieSigningKey, s.CookieEncryptionKey)
	} else {
		keys, err = session.LoadOrCreateKeys(ctx, direct, s.Namespace, s.KeysSecret)
	}
	if err != nil {
		return nil, err
	}
	codec, err := session.NewCodec(keys)
	if err != nil {
		return nil, err
	}

	r := mux.NewRouter()
	login := oidclogin.Config{
		IssuerURL:   s.OIDCIssuer,
		ClientID:    s.OIDCClientID,
		RedirectURL: s.ExternalURL + "/callback",
		Scopes:      s.OIDCScopes,
		GroupsClaim: s.OIDCGroupsClaim,
	}
	if s.OIDCIssuer == options.EmbeddedIssuer {
		log.Info("WARNING: using the embedded OIDC issuer, which accepts any user name. It is for development only; configure --oidc-issuer with your identity provider in production.")
		data, err := session.EnsureSecretFields(ctx, direct, s.Namespace, s.KeysSecret, map[string]func() ([]byte, error){
			issuerKeyField:    newRSAKeyPEM,
			issuerSecretField: func() ([]byte, error) { return []byte(session.RandomString(32)), nil },
		})
		if err != nil {
			return nil, err
		}
		iss, err := issuer.New(issuer.Config{
			URL: s.ExternalURL + "/oidc", ClientID: s.OIDCClientID, ClientSecret: string(data[issuerSecretField]),
			RedirectURL: login.RedirectURL, KeyPEM: data[issuerKeyField], Codec: codec,
		})
		if err != nil {
			return nil, err
		}
		iss.Routes(r.PathPrefix("/oidc").Subrouter())
		login.IssuerURL = s.ExternalURL + "/oidc"
		login.ClientSecret = string(data[issuerSecretField])
	} else {
		if login.ClientSecret, err = s.ClientSecret(); err != nil {
			return nil, err
		}
	}
	(&bindflow.Handler{
		ExternalURL:            s.ExternalURL,
		ProviderPrettyName:     o.Controllers.ProviderPrettyName,
		Login:                  oidclogin.New(login),
		Codec:                  codec,
		Client:                 cached,
		Writer:                 direct,
		Credentials:            creds,
		Allowed:                access.AllowList{Users: s.AllowedUsers, Groups: s.AllowedGroups},
		NewClustersPerMinute:   s.NewClustersPerMinute,
		MaxObjectsPerNamespace: o.Controllers.MaxObjectsPerNamespace,
		PublicCatalog:          s.PublicCatalog,
		Log:                    log.WithName("bindflow"),
	}).Routes(r)
	return r, nil
}

func newRSAKeyPEM() ([]byte, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), nil
}

func ensureNamespace(ctx context.Context, c client.Client, name string) error {
	err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if err != nil && !apierrors.IsAlreadyExists(err) && !apierrors.IsForbidden(err) {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return nil
}

// httpServer serves the binding flow on every replica.
type httpServer struct {
	opts    *options.Server
	handler http.Handler
	log     logr.Logger
	// timeouts are defaultTimeouts unless a test shortens them.
	timeouts *serverTimeouts
}

// serverTimeouts bound how long a client can hold a connection: one that
// sends its request slowly (slowloris), or reads the answer slowly, is cut
// off, so a few clients cannot exhaust the server.
type serverTimeouts struct {
	readHeader, read, write, idle time.Duration
}

var defaultTimeouts = serverTimeouts{readHeader: 10 * time.Second, read: 30 * time.Second, write: time.Minute, idle: 2 * time.Minute}

// maxHeaderBytes bounds a request's headers; bindflow bounds bodies.
const maxHeaderBytes = 32 << 10

func (s *httpServer) server() *http.Server {
	t := defaultTimeouts
	if s.timeouts != nil {
		t = *s.timeouts
	}
	return &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: t.readHeader,
		ReadTimeout:       t.read,
		WriteTimeout:      t.write,
		IdleTimeout:       t.idle,
		MaxHeaderBytes:    maxHeaderBytes,
	}
}

// NeedLeaderElection is false: every replica serves HTTP.
func (*httpServer) NeedLeaderElection() bool { return false }

func (s *httpServer) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.opts.ListenAddress)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", s.opts.ListenAddress, err)
	}
	srv := s.server()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	s.log.Info("Serving the binding flow", "address", ln.Addr().String(), "url", s.opts.ExternalURL)
	if s.opts.TLSCertFile != "" {
		err = srv.ServeTLS(ln, s.opts.TLSCertFile, s.opts.TLSKeyFile)
	} else {
		err = srv.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
