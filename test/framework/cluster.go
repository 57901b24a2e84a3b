package framework

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// kcmControllers are the kube-controller-manager controllers every test
// cluster runs: without them owner references are never collected, deleted
// namespaces stay Terminating, ResourceQuotas are never counted (so what
// they count cannot be created), and legacy token Secrets stay empty.
var kcmControllers = []string{
	"garbagecollector",
	"namespace",
	"resourcequota",
	"serviceaccount",
	"serviceaccount-token",
}

// podControllers are the controllers a WithPods cluster runs as well:
// Deployments get pods, a Ready node loses its not-ready taint, and every
// namespace gets the kube-root-ca.crt ConfigMap pods mount.
var podControllers = []string{"deployment", "replicaset", "nodelifecycle", "root-ca-cert-publisher"}

// Cluster is one running test cluster: etcd, kube-apiserver and
// kube-controller-manager.
type Cluster struct {
	// Name names the cluster in logs and file names, e.g. "provider".
	Name string
	// Dir holds the cluster's certificates, data, logs and kubeconfig.
	Dir string
	// Config is an admin (system:masters) client config.
	Config *rest.Config
	// Kubeconfig is the path of an admin kubeconfig file for Config.
	Kubeconfig string
	// Client is a controller-runtime client for Config, with Scheme.
	Client client.Client
	// Kube is a typed clientset for Config.
	Kube kubernetes.Interface

	env  *envtest.Environment
	kcm  *Process
	logs *logSet

	// pods is set for a cluster that nodes can join (WithPods).
	pods      bool
	nodesMu   sync.Mutex
	nodes     []*Node
	scheduler *Process

	stopOnce sync.Once
}

// Option changes how a cluster is started.
type Option func(*clusterOptions)

type clusterOptions struct {
	apiServerArgs map[string][]string
	pods          bool
}

// WithPods readies a cluster for nodes (StartNode): its API server listens
// on every address with a certificate for this machine's address and the
// in-cluster name kubernetes.default.svc (10.0.0.1), so that pods reach it
// as they would in a real cluster, and it reaches kubelets by their
// InternalIP. Only tests that run pods need it.
func WithPods() Option {
	return func(o *clusterOptions) { o.pods = true }
}

// WithAPIServerArg sets an extra kube-apiserver flag.
func WithAPIServerArg(name string, values ...string) Option {
	return func(o *clusterOptions) {
		if o.apiServerArgs == nil {
			o.apiServerArgs = map[string][]string{}
		}
		o.apiServerArgs[name] = values
	}
}

// StartCluster starts a cluster and registers its shutdown with t.Cleanup.
// It fails the test if the cluster does not come up.
func StartCluster(t TB, name string, opts ...Option) *Cluster {
	t.Helper()
	c, err := startCluster(t, name, opts...)
	if err != nil {
		t.Fatalf("starting cluster %q: %v", name, err)
	}
	return c
}

// StartClusters starts several clusters at once, in parallel, and returns
// them in the order of names.
func StartClusters(t TB, names ...string) []*Cluster {
	return StartClustersWith(t, nil, names...)
}

// StartClustersWith starts several clusters at once, each with opts.
func StartClustersWith(t TB, opts []Option, names ...string) []*Cluster {
	t.Helper()
	clusters := make([]*Cluster, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			clusters[i], errs[i] = startCluster(t, name, opts...)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("starting cluster %q: %v", names[i], err)
		}
	}
	return clusters
}

func startCluster(t TB, name string, opts ...Option) (*Cluster, error) {
	o := clusterOptions{}
	for _, opt := range opts {
		opt(&o)
	}
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "bindery-"+name+"-")
	if err != nil {
		return nil, fmt.Errorf("creating cluster dir: %w", err)
	}

	c := &Cluster{Name: name, Dir: dir, logs: newLogSet(dir), pods: o.pods}
	// Registered first so that it runs last: the directory outlives the
	// processes that write into it.
	t.Cleanup(func() {
		if !t.Failed() {
			_ = os.RemoveAll(dir)
		}
	})
	// Stop on cleanup, which also runs when the test fails or panics; dump
	// logs first when it failed.
	t.Cleanup(func() {
		if t.Failed() {
			c.logs.dump(t, name)
		}
		c.Stop()
	})

	certDir := filepath.Join(dir, "pki")
	dataDir := filepath.Join(dir, "etcd")
	for _, d := range []string{certDir, dataDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("creating %s: %w", d, err)
		}
	}

	apiServer := &envtest.APIServer{
		// A fixed cert dir keeps the serving CA stable across a restart.
		CertDir: certDir,
		Out:     c.logs.writer("kube-apiserver"),
		Err:     c.logs.writer("kube-apiserver"),
	}
	args := apiServer.Configure()
	// Needed where there is no default route, for example inside a network
	// namespace.
	args.Set("advertise-address", "127.0.0.1")
	if o.pods {
		if err := servePods(apiServer, args, certDir); err != nil {
			return nil, err
		}
	}
	for k, v := range o.apiServerArgs {
		args.Set(k, v...)
	}
	c.env = &envtest.Environment{
		BinaryAssetsDirectory: assets,
		ControlPlane: envtest.ControlPlane{
			APIServer: apiServer,
			Etcd: &envtest.Etcd{
				DataDir: dataDir,
				Out:     c.logs.writer("etcd"),
				Err:     c.logs.writer("etcd"),
			},
		},
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	track(c)

	cfg, err := c.env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting etcd and kube-apiserver: %w", err)
	}
	c.Config = cfg
	c.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(c.Kubeconfig, c.env.KubeConfig, 0o600); err != nil {
		return nil, fmt.Errorf("writing kubeconfig: %w", err)
	}
	if c.Client, err = client.New(cfg, client.Options{Scheme: Scheme}); err != nil {
		return nil, fmt.Errorf("creating client: %w", err)
	}
	if c.Kube, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, fmt.Errorf("creating clientset: %w", err)
	}

	if err := c.startControllerManager(assets); err != nil {
		return nil, err
	}
	return c, nil
}

// startControllerManager runs kube-controller-manager against the cluster,
// signing service-account tokens with the apiserver's key, and waits until
// it has created the default ServiceAccount, which shows it is working.
func (c *Cluster) startControllerManager(assets string) error {
	user, err := c.env.AddUser(envtest.User{Name: "kube-controller-manager", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("provisioning controller-manager user: %w", err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return fmt.Errorf("controller-manager kubeconfig: %w", err)
	}
	kubeconfigPath := filepath.Join(c.Dir, "kube-controller-manager.kubeconfig")
	if err := os.WriteFile(kubeconfigPath, kubeconfig, 0o600); err != nil {
		return fmt.Errorf("writing controller-manager kubeconfig: %w", err)
	}
	caPath := filepath.Join(c.Dir, "ca.crt")
	if err := os.WriteFile(caPath, c.env.ControlPlane.APIServer.SecureServing.CA, 0o600); err != nil {
		return fmt.Errorf("writing CA: %w", err)
	}

	controllers := kcmControllers
	if c.pods {
		controllers = append(append([]string(nil), kcmControllers...), podControllers...)
	}
	c.kcm = &Process{
		Name: "kube-controller-manager",
		Path: filepath.Join(assets, "kube-controller-manager"),
		Args: []string{
			"--kubeconfig=" + kubeconfigPath,
			"--controllers=" + strings.Join(controllers, ","),
			"--service-account-private-key-file=" + filepath.Join(c.env.ControlPlane.APIServer.CertDir, "sa-signer.key"),
			"--root-ca-file=" + caPath,
			"--leader-elect=false",
			// No serving port: parallel clusters would fight over 10257.
			"--secure-port=0",
			"--concurrent-gc-syncs=5",
			"--concurrent-namespace-syncs=5",
			"--v=1",
		},
		Log: c.logs.writer("kube-controller-manager"),
	}
	if err := c.kcm.Start(); err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err = wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if exited, err := c.kcm.Exited(); exited {
			return false, fmt.Errorf("kube-controller-manager exited: %v", err)
		}
		sa := &corev1.ServiceAccount{}
		err := c.Client.Get(ctx, types.NamespacedName{Namespace: "default", Name: "default"}, sa)
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		return fmt.Errorf("waiting for kube-controller-manager to create the default ServiceAccount: %w", err)
	}
	return nil
}

// AddUser provisions a client-certificate user with the given groups and
// returns a client config for it.
func (c *Cluster) AddUser(t TB, name string, groups ...string) *rest.Config {
	t.Helper()
	u, err := c.env.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	if err != nil {
		t.Fatalf("adding user %q to cluster %q: %v", name, c.Name, err)
	}
	return u.Config()
}

// StopAPIServer stops only the kube-apiserver, for tests of how clients
// behave while the control plane is down. Etcd keeps its data.
func (c *Cluster) StopAPIServer() error {
	s := c.env.ControlPlane.APIServer
	// With watches open, a graceful shutdown can take long; after a few
	// seconds envtest kills the process, which is as good a stop here.
	s.StopTimeout = 5 * time.Second
	if err := s.Stop(); err != nil && !strings.Contains(err.Error(), "timeout waiting for process") {
		return err
	}
	return nil
}

// StartAPIServer starts the kube-apiserver again after StopAPIServer, on
// the same address and with the same certificates.
func (c *Cluster) StartAPIServer() error {
	return c.env.ControlPlane.APIServer.Start()
}

// LogWriter returns a writer whose output is kept with the cluster's logs
// and printed if the test fails, for processes that run against it.
func (c *Cluster) LogWriter(process string) *LogFile {
	return c.logs.writer(process)
}

// WaitQuotaCounts waits until kube-controller-manager counts the objects
// of resource (plural.group) for ResourceQuotas, which it does for a new
// custom resource only after its next discovery (every 30 s): until then
// the API server counts creates, but a deletion does not free its quota
// until the controller's full resync (every 5 minutes). The controller
// says so only in its log.
func (c *Cluster) WaitQuotaCounts(t TB, resource string) {
	t.Helper()
	log := c.logs.writer("kube-controller-manager").Path
	want := fmt.Sprintf("%q resource=%q", "QuotaMonitor created object count evaluator", resource)
	Eventually(t, func() (bool, string) {
		b, err := os.ReadFile(log)
		if err != nil {
			return false, err.Error()
		}
		return strings.Contains(string(b), want), "kube-controller-manager does not count " + resource + " yet"
	}, WaitTimeout)
}

// Stop stops the controller manager, apiserver and etcd. It is safe to call
// more than once.
func (c *Cluster) Stop() {
	c.stopOnce.Do(func() {
		c.nodesMu.Lock()
		nodes := c.nodes
		c.nodesMu.Unlock()
		for _, n := range nodes {
			n.Stop()
		}
		if c.scheduler != nil {
			c.scheduler.Stop()
		}
		if c.kcm != nil {
			c.kcm.Stop()
		}
		if c.env != nil {
			_ = c.env.Stop()
		}
		untrack(c)
		c.logs.close()
	})
}
