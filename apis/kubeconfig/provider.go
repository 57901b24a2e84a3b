package kubeconfig

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// InsecureTLSAnnotation, on the consumer Secret that holds a provider
// kubeconfig, records that the user asked to accept
// insecure-skip-tls-verify in it (kubectl bind
// --provider-insecure-skip-tls-verify). The konnector refuses such a
// kubeconfig without it.
const InsecureTLSAnnotation = "bindery.dev/insecure-skip-tls-verify"

// OptionsFor returns what the user accepted for the provider kubeconfig
// stored in a Secret with annotations: insecure-skip-tls-verify only when
// kubectl bind was asked to allow it and marked the Secret so.
func OptionsFor(annotations map[string]string) ProviderOptions {
	return ProviderOptions{AllowInsecureTLS: annotations[InsecureTLSAnnotation] == "true"}
}

// ProviderOptions say what a provider kubeconfig may hold beyond the data
// Bindery always accepts.
type ProviderOptions struct {
	// AllowInsecureTLS accepts insecure-skip-tls-verify, because the user
	// asked for it.
	AllowInsecureTLS bool
}

// Provider is a provider-issued kubeconfig reduced to the data a client
// needs.
type Provider struct {
	// Config talks to the provider's API server.
	Config *rest.Config
	// Namespace is the namespace of the current context: the consumer's
	// cluster namespace on the provider.
	Namespace string
}

// ParseProvider reads a kubeconfig that a provider issued. A provider is
// not trusted with the consumer's machine, so the kubeconfig is data: only
// a server address, an inline CA, and an inline bearer token or client
// certificate are used. Everything that would run a program, read a file or
// send traffic elsewhere (exec and auth-provider plugins, file references,
// proxy-url, impersonation, basic auth) is refused with an error naming it,
// and so is insecure-skip-tls-verify unless o allows it. A plain http
// server is accepted only on a loopback address.
//
// Nothing is resolved through clientcmd's client config, which would run an
// exec plugin or read the files.
func ParseProvider(raw []byte, o ProviderOptions) (*Provider, error) {
	cfg, err := clientcmd.Load(raw)
	if err != nil {
		return nil, fmt.Errorf("the provider's kubeconfig is not valid: %w", err)
	}
	ctxName := cfg.CurrentContext
	kctx := cfg.Contexts[ctxName]
	if ctxName == "" || kctx == nil {
		return nil, errors.New("the provider's kubeconfig has no current context")
	}
	cluster := cfg.Clusters[kctx.Cluster]
	if cluster == nil {
		return nil, fmt.Errorf("the provider's kubeconfig: context %q names cluster %q, which it does not hold", ctxName, kctx.Cluster)
	}
	user := cfg.AuthInfos[kctx.AuthInfo]
	if user == nil {
		return nil, fmt.Errorf("the provider's kubeconfig: context %q names user %q, which it does not hold", ctxName, kctx.AuthInfo)
	}
	if err := checkCluster(cluster, o); err != nil {
		return nil, fmt.Errorf("the provider's kubeconfig, cluster %q: %w", kctx.Cluster, err)
	}
	if err := checkUser(user); err != nil {
		return nil, fmt.Errorf("the provider's kubeconfig, user %q: %w", kctx.AuthInfo, err)
	}
	if kctx.Namespace == "" || kctx.Namespace == "default" {
		return nil, errors.New("the provider's kubeconfig: its current context names no consumer namespace on the provider")
	}
	return &Provider{
		Namespace: kctx.Namespace,
		Config: &rest.Config{
			Host:        cluster.Server,
			BearerToken: user.Token,
			TLSClientConfig: rest.TLSClientConfig{
				Insecure:   cluster.InsecureSkipTLSVerify,
				ServerName: cluster.TLSServerName,
				CAData:     cluster.CertificateAuthorityData,
				CertData:   user.ClientCertificateData,
				KeyData:    user.ClientKeyData,
			},
		},
	}, nil
}

// checkCluster accepts a server, an inline CA and a TLS server name.
func checkCluster(c *clientcmdapi.Cluster, o ProviderOptions) error {
	u, err := url.Parse(c.Server)
	if err != nil || u.Host == "" {
		return fmt.Errorf("server %q is not a URL", c.Server)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && IsLoopback(u):
	case u.Scheme == "http":
		return fmt.Errorf("server %s is plain http outside this machine, which would send the credentials unencrypted", c.Server)
	default:
		return fmt.Errorf("server %s: scheme %q is not https", c.Server, u.Scheme)
	}
	var refused []string
	if c.CertificateAuthority != "" {
		refused = append(refused, "certificate-authority (a file path; only certificate-authority-data is accepted)")
	}
	if c.ProxyURL != "" {
		refused = append(refused, "proxy-url")
	}
	if c.InsecureSkipTLSVerify && !o.AllowInsecureTLS {
		refused = append(refused, "insecure-skip-tls-verify (accepted only when you ask for it)")
	}
	return refusal(refused)
}

// checkUser accepts an inline bearer token or an inline client
// certificate and key, and nothing else.
func checkUser(u *clientcmdapi.AuthInfo) error {
	var refused []string
	if u.Exec != nil {
		refused = append(refused, fmt.Sprintf("exec (it would run %q)", u.Exec.Command))
	}
	if u.AuthProvider != nil {
		refused = append(refused, fmt.Sprintf("auth-provider %q", u.AuthProvider.Name))
	}
	if u.TokenFile != "" {
		refused = append(refused, "tokenFile (a file path)")
	}
	if u.ClientCertificate != "" || u.ClientKey != "" {
		refused = append(refused, "client-certificate/client-key (file paths; only the -data fields are accepted)")
	}
	if u.Username != "" || u.Password != "" {
		refused = append(refused, "username/password")
	}
	if u.Impersonate != "" || u.ImpersonateUID != "" || len(u.ImpersonateGroups) > 0 || len(u.ImpersonateUserExtra) > 0 {
		refused = append(refused, "impersonation (as, as-uid, as-groups, as-user-extra)")
	}
	if err := refusal(refused); err != nil {
		return err
	}
	hasCert := len(u.ClientCertificateData) > 0 || len(u.ClientKeyData) > 0
	switch {
	case u.Token == "" && !hasCert:
		return errors.New("it holds no credential: a token or client-certificate-data and client-key-data are needed")
	case hasCert && (len(u.ClientCertificateData) == 0 || len(u.ClientKeyData) == 0):
		return errors.New("a client certificate needs both client-certificate-data and client-key-data")
	}
	return nil
}

func refusal(refused []string) error {
	if len(refused) == 0 {
		return nil
	}
	return fmt.Errorf("refused %s: a provider's kubeconfig may hold only a server, a CA and a token or client certificate, as data", strings.Join(refused, ", "))
}

// IsLoopback reports whether u's host is a loopback address or localhost.
func IsLoopback(u *url.URL) bool {
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
