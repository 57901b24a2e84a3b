package options

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/bindery-dev/bindery/apis/kubeconfig"
)

// EmbeddedIssuer is the --oidc-issuer value that turns on the development
// issuer built into the backend.
const EmbeddedIssuer = "embedded"

// Server are the flags of the HTTP side of the backend: the browser login
// and the binding flow.
type Server struct {
	ListenAddress string
	ExternalURL   string
	TLSCertFile   string
	TLSKeyFile    string

	OIDCIssuer           string
	OIDCClientID         string
	OIDCClientSecret     string
	OIDCClientSecretFile string
	OIDCGroupsClaim      string
	OIDCScopes           []string
	AllowedUsers         []string
	AllowedGroups        []string
	PublicCatalog        bool

	CookieSigningKey    string
	CookieEncryptionKey string
	Namespace           string
	KeysSecret          string

	ExternalAddress string
	ExternalCAFile  string
	TokenTTL        time.Duration

	// ConsumerGracePeriod is how long a consumer's konnector may stay
	// silent before its token is no longer renewed.
	ConsumerGracePeriod time.Duration
	// DeprovisionAfter is how long a consumer cluster is kept after its
	// last binding went.
	DeprovisionAfter time.Duration

	// NewClustersPerMinute bounds new consumer clusters per user and
	// minute.
	NewClustersPerMinute int

	// Dev allows the embedded issuer on an --external-url other than
	// loopback.
	Dev bool
}

// Bounds of --token-ttl. The longest a leaked token can work is its TTL;
// a consumer's konnector renews it after two thirds of it.
const (
	MinTokenTTL = 10 * time.Minute
	MaxTokenTTL = 30 * 24 * time.Hour
)

// NewServer returns the defaults.
func NewServer() *Server {
	ns := os.Getenv("POD_NAMESPACE")
	if ns == "" {
		ns = "bindery-system"
	}
	return &Server{
		ListenAddress:   ":8080",
		OIDCClientID:    "bindery",
		OIDCGroupsClaim: "groups",
		OIDCScopes:      []string{"profile", "email"},
		Namespace:       ns,
		KeysSecret:      "bindery-backend-keys",
		TokenTTL:        7 * 24 * time.Hour,

		ConsumerGracePeriod:  3 * 24 * time.Hour,
		DeprovisionAfter:     24 * time.Hour,
		NewClustersPerMinute: 5,
	}
}

// AddFlags registers the flags.
func (o *Server) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.ListenAddress, "listen-address", o.ListenAddress, "Address of the HTTP server with the binding flow.")
	fs.StringVar(&o.ExternalURL, "external-url", o.ExternalURL, "URL where browsers and kubectl bind reach this backend, e.g. https://bind.example.com; http://localhost:<port> by default.")
	fs.StringVar(&o.TLSCertFile, "tls-cert-file", o.TLSCertFile, "Serve HTTPS with this certificate (PEM); plain HTTP when empty, e.g. behind an ingress.")
	fs.StringVar(&o.TLSKeyFile, "tls-key-file", o.TLSKeyFile, "Key of --tls-cert-file (PEM).")
	fs.StringVar(&o.OIDCIssuer, "oidc-issuer", o.OIDCIssuer, `OIDC issuer URL, or "embedded" for the development issuer built into the backend.`)
	fs.StringVar(&o.OIDCClientID, "oidc-client-id", o.OIDCClientID, "OIDC client ID of this backend.")
	fs.StringVar(&o.OIDCClientSecret, "oidc-client-secret", o.OIDCClientSecret, "OIDC client secret; prefer --oidc-client-secret-file.")
	fs.StringVar(&o.OIDCClientSecretFile, "oidc-client-secret-file", o.OIDCClientSecretFile, "File holding the OIDC client secret.")
	fs.StringVar(&o.OIDCGroupsClaim, "oidc-groups-claim", o.OIDCGroupsClaim, "ID token claim that lists the user's groups.")
	fs.StringSliceVar(&o.OIDCScopes, "oidc-scopes", o.OIDCScopes, "Scopes asked for besides openid.")
	fs.StringSliceVar(&o.AllowedUsers, "oidc-allowed-users", o.AllowedUsers, "Only these users (subject, email or name claim) may bind; with --oidc-allowed-groups, members of those groups may too. Everyone who logs in when both are empty.")
	fs.BoolVar(&o.PublicCatalog, "public-catalog", o.PublicCatalog, "Serve the list of services (names, descriptions, resources) at /templates without a login, for kubectl bind templates.")
	fs.StringSliceVar(&o.AllowedGroups, "oidc-allowed-groups", o.AllowedGroups, "Only members of these groups may bind (see --oidc-allowed-users).")
	fs.StringVar(&o.CookieSigningKey, "cookie-signing-key", o.CookieSigningKey, "Base64 HMAC key (32 bytes or more) for session cookies; with --cookie-encryption-key it replaces the keys Secret.")
	fs.StringVar(&o.CookieEncryptionKey, "cookie-encryption-key", o.CookieEncryptionKey, "Base64 AES key (16, 24 or 32 bytes) for session cookies.")
	fs.StringVar(&o.Namespace, "namespace", o.Namespace, "Namespace of the backend's own Secrets ($POD_NAMESPACE by default).")
	fs.StringVar(&o.KeysSecret, "keys-secret", o.KeysSecret, "Secret holding the session keys (and the embedded issuer's key); created with random keys when missing, and shared by all replicas.")
	fs.StringVar(&o.ExternalAddress, "external-address", o.ExternalAddress, "Provider API server address written into consumers' kubeconfigs; the backend's own when empty.")
	fs.StringVar(&o.ExternalCAFile, "external-ca-file", o.ExternalCAFile, "CA bundle (PEM) of --external-address; the backend's own when empty.")
	fs.DurationVar(&o.TokenTTL, "token-ttl", o.TokenTTL, "Lifetime of consumers' ServiceAccount tokens (10m to 720h); they are renewed after two thirds of it.")
	fs.DurationVar(&o.ConsumerGracePeriod, "consumer-grace-period", o.ConsumerGracePeriod, "How long a consumer's konnector may send no heartbeat before its token is no longer renewed (it then runs out after --token-ttl); 0 renews regardless.")
	fs.DurationVar(&o.DeprovisionAfter, "deprovision-after", o.DeprovisionAfter, "How long a consumer cluster with no binding left keeps its namespace, ServiceAccount, ClusterBinding and grants before they are deleted; 0 keeps them.")
	fs.IntVar(&o.NewClustersPerMinute, "max-new-clusters-per-minute", o.NewClustersPerMinute, "How many new consumer clusters one user may onboard per minute; 0 means no bound.")
	fs.BoolVar(&o.Dev, "dev", o.Dev, "Development only: allow --oidc-issuer=embedded, which lets anyone log in as any user with any groups, on an --external-url that is not loopback.")
}

// Validate checks the flags and fills in defaults that depend on others.
func (o *Server) Validate() error {
	var errs []error
	if o.ExternalURL == "" {
		_, port, err := net.SplitHostPort(o.ListenAddress)
		if err != nil {
			errs = append(errs, fmt.Errorf("--listen-address %q: %w", o.ListenAddress, err))
		} else {
			scheme := "http"
			if o.TLSCertFile != "" {
				scheme = "https"
			}
			o.ExternalURL = scheme + "://localhost:" + port
		}
	}
	if u, err := url.Parse(o.ExternalURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("--external-url %q must be an http(s) URL", o.ExternalURL))
	}
	o.ExternalURL = strings.TrimSuffix(o.ExternalURL, "/")
	if (o.TLSCertFile == "") != (o.TLSKeyFile == "") {
		errs = append(errs, errors.New("--tls-cert-file and --tls-key-file go together"))
	}
	if o.OIDCIssuer == "" {
		errs = append(errs, errors.New(`--oidc-issuer is required: an issuer URL, or "embedded" for local use`))
	} else if o.OIDCIssuer != EmbeddedIssuer {
		if u, err := url.Parse(o.OIDCIssuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("--oidc-issuer %q must be a URL or %q", o.OIDCIssuer, EmbeddedIssuer))
		}
		if o.OIDCClientSecret == "" && o.OIDCClientSecretFile == "" {
			errs = append(errs, errors.New("--oidc-client-secret-file (or --oidc-client-secret) is required with an external issuer"))
		}
	}
	if o.OIDCClientID == "" {
		errs = append(errs, errors.New("--oidc-client-id must not be empty"))
	}
	if (o.CookieSigningKey == "") != (o.CookieEncryptionKey == "") {
		errs = append(errs, errors.New("--cookie-signing-key and --cookie-encryption-key go together"))
	}
	if o.TokenTTL < MinTokenTTL || o.TokenTTL > MaxTokenTTL {
		errs = append(errs, fmt.Errorf("--token-ttl must be from %s to %s, not %s: a leaked token works for as long", MinTokenTTL, MaxTokenTTL, o.TokenTTL))
	}
	if o.ConsumerGracePeriod < 0 || o.DeprovisionAfter < 0 || o.NewClustersPerMinute < 0 {
		errs = append(errs, errors.New("--consumer-grace-period, --deprovision-after and --max-new-clusters-per-minute must not be negative"))
	}
	if o.OIDCIssuer == EmbeddedIssuer && !o.Dev {
		if u, err := url.Parse(o.ExternalURL); err == nil && !kubeconfig.IsLoopback(u) {
			errs = append(errs, fmt.Errorf("--oidc-issuer=embedded lets anyone log in as any user with any groups, so it serves only a loopback --external-url, not %q; configure your identity provider, or pass --dev for a development setup", o.ExternalURL))
		}
	}
	if o.Namespace == "" || o.KeysSecret == "" {
		errs = append(errs, errors.New("--namespace and --keys-secret must not be empty"))
	}
	return errors.Join(errs...)
}

// ClientSecret returns the OIDC client secret from the flag or the file.
func (o *Server) ClientSecret() (string, error) {
	if o.OIDCClientSecretFile == "" {
		return o.OIDCClientSecret, nil
	}
	b, err := os.ReadFile(o.OIDCClientSecretFile)
	if err != nil {
		return "", fmt.Errorf("reading --oidc-client-secret-file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
