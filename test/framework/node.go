package framework

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

// A Node is a real kubelet with containerd and runc joined to a test
// cluster, so that pods run: Deployments, logs, exec and port-forward
// work as on any cluster. Images cannot be pulled on the test machine;
// ImportImage loads locally built ones (package images).
//
// A node keeps to itself what a kubelet would share with the host:
//   - its own containerd (root, state, socket) and kubelet root folder
//     under the cluster's folder;
//   - a private mount namespace in which the paths a kubelet or containerd
//     always writes to (/var/lib/kubelet/device-plugins, /var/log/containers,
//     /var/lib/cni, /run/containerd) are empty tmpfs mounts, so that two
//     nodes (of two clusters) can run at once and no mount outlives them;
//   - its own cgroup root (/bindery-node-<slot> in every cgroup v1
//     hierarchy), bridge, /24 of pod addresses, and iptables rules that
//     route the in-cluster API address 10.0.0.1:443 of its pods to its
//     cluster's API server and drop any pod traffic that would leave the
//     machine.
//
// Stop (run by t.Cleanup and by the cluster's Stop) kills the pods'
// processes and every process it started, and removes the cgroups, the
// bridge and the rules; the kernel settings a kubelet changes are put back
// when the last node on the machine stops. hack/check-leftovers.sh fails a
// test run that leaves any of it behind.
type Node struct {
	// Name is the Node object's name.
	Name string
	// IP is the node's InternalIP, this machine's address.
	IP string
	// Dir holds containerd's and the kubelet's files and logs.
	Dir string

	cluster *Cluster
	slot    *nodeSlot
	socket  string
	bridge  string
	subnet  string
	cgroup  string
	rules   [][]string

	holder, containerd, kubelet *Process
	stopOnce                    sync.Once
}

// The kernel settings a kubelet (and the CNI bridge plugin) changes.
var nodeSysctls = []string{
	"vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops",
	"net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables",
}

// SandboxImage is the pause image name containerd runs pod sandboxes
// from; StartNode imports one built from test/cmd/pause under it.
const SandboxImage = "registry.k8s.io/pause:3.10.1"

// NodeBinaries are what a node needs besides the control plane: built by
// `make envtest` (kubelet, kube-scheduler) and installed by `make
// test-deps` (Debian's containerd, runc, CNI plugins, iptables).
var NodeBinaries = []string{"kubelet", "kube-scheduler"}

const cniBinDir = "/usr/lib/cni"

// StartNode starts a node in cluster c, which must have been started
// WithPods, and waits until it is Ready. The node stops with the test.
func StartNode(t TB, c *Cluster) *Node {
	t.Helper()
	n, err := startNode(t, c)
	if err != nil {
		t.Fatalf("starting a node in cluster %q: %v", c.Name, err)
	}
	return n
}

func startNode(t TB, c *Cluster) (*Node, error) {
	if !c.pods {
		return nil, errors.New("the cluster was not started WithPods()")
	}
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	if err := checkNodeTools(assets); err != nil {
		return nil, err
	}
	ip, err := HostIP()
	if err != nil {
		return nil, err
	}
	slot, err := takeNodeSlot()
	if err != nil {
		return nil, err
	}
	n := &Node{
		Name:    fmt.Sprintf("node-%d", slot.n),
		IP:      ip.String(),
		Dir:     filepath.Join(c.Dir, fmt.Sprintf("node-%d", slot.n)),
		cluster: c,
		slot:    slot,
		bridge:  fmt.Sprintf("bindery%d", slot.n),
		subnet:  fmt.Sprintf("10.244.%d.0/24", 100+slot.n),
		cgroup:  fmt.Sprintf("/bindery-node-%d", slot.n),
	}
	n.socket = filepath.Join(n.Dir, "run", "containerd.sock")
	c.nodesMu.Lock()
	c.nodes = append(c.nodes, n)
	c.nodesMu.Unlock()
	t.Cleanup(n.Stop)

	for _, step := range []func() error{
		n.ensureDirs,
		n.startMountNamespace,
		n.writeCNIConfig,
		n.startContainerd,
		n.importSandboxImage,
		n.ensureRules,
		n.ensureCgroupRoot,
		func() error { return c.ensureScheduler(assets) },
		func() error { return n.startKubelet(assets) },
		n.waitReady,
	} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return n, nil
}

func checkNodeTools(assets string) error {
	var missing []string
	for _, b := range NodeBinaries {
		if _, err := os.Stat(filepath.Join(assets, b)); err != nil {
			missing = append(missing, filepath.Join(assets, b)+" (make envtest)")
		}
	}
	for _, b := range []string{"containerd", "containerd-shim-runc-v2", "runc", "ctr", "iptables", "unshare", "nsenter"} {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b+" (make test-deps)")
		}
	}
	if _, err := os.Stat(filepath.Join(cniBinDir, "bridge")); err != nil {
		missing = append(missing, cniBinDir+"/bridge (make test-deps)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("a node needs %s", strings.Join(missing, ", "))
	}
	if os.Geteuid() != 0 {
		return errors.New("a node needs root (containerd, mounts, iptables)")
	}
	return nil
}

func (n *Node) ensureDirs() error {
	for _, d := range []string{"run", "containerd/root", "containerd/state", "cni/net.d", "cni/ipam", "kubelet/root", "kubelet/certs", "kubelet/logs", "kubelet/volume-plugins", "images"} {
		if err := os.MkdirAll(filepath.Join(n.Dir, d), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// privatePaths are the fixed paths a kubelet or containerd writes to,
// whatever its configuration; in the node's mount namespace each is an
// empty tmpfs.
var privatePaths = []string{"/var/lib/kubelet/device-plugins", "/var/log/containers", "/var/lib/cni", "/run/containerd"}

// startMountNamespace starts the process that holds the node's private
// mount namespace; containerd and the kubelet join it.
func (n *Node) startMountNamespace() error {
	ready := filepath.Join(n.Dir, "mount-namespace-ready")
	script := "set -e\n"
	for _, p := range privatePaths {
		script += fmt.Sprintf("mkdir -p %s && mount -t tmpfs -o mode=0755 bindery-node %s\n", p, p)
	}
	script += "touch " + ready + "\nexec sleep 2147483647\n"
	n.holder = &Process{
		Name: n.Name + "-mount-namespace",
		Path: mustLookPath("unshare"),
		Args: []string{"--mount", "--propagation", "private", "--", "/bin/sh", "-c", script},
		Log:  n.cluster.logs.writer(n.Name + "-mount-namespace"),
	}
	if err := n.holder.Start(); err != nil {
		return err
	}
	return n.waitFor("its mount namespace", n.holder, func() (bool, error) {
		_, err := os.Stat(ready)
		return err == nil, nil
	})
}

// inNamespace runs a program in the node's mount namespace.
func (n *Node) inNamespace(name, path string, args ...string) *Process {
	return &Process{
		Name: n.Name + "-" + name,
		Path: mustLookPath("nsenter"),
		Args: append([]string{"--mount=/proc/" + strconv.Itoa(n.holder.PID()) + "/ns/mnt", "--", path}, args...),
		Log:  n.cluster.logs.writer(n.Name + "-" + name),
	}
}

func (n *Node) writeCNIConfig() error {
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "bindery-" + n.Name,
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": n.bridge, "isGateway": true, "ipMasq": false, "hairpinMode": true,
				"ipam": map[string]any{
					"type": "host-local", "dataDir": filepath.Join(n.Dir, "cni", "ipam"),
					"ranges": [][]map[string]string{{{"subnet": n.subnet}}},
					"routes": []map[string]string{{"dst": "0.0.0.0/0"}},
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
			map[string]any{"type": "loopback"},
		},
	}
	raw, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(n.Dir, "cni", "net.d", "10-bindery.conflist"), raw, 0o644)
}

func (n *Node) startContainerd() error {
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
[grpc]
  address = %q
[ttrpc]
  address = %q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  # root lacks CAP_SYS_RESOURCE on the test machines
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
`, filepath.Join(n.Dir, "containerd", "root"), filepath.Join(n.Dir, "containerd", "state"), n.socket, n.socket+".ttrpc",
		SandboxImage, cniBinDir, filepath.Join(n.Dir, "cni", "net.d"))
	path := filepath.Join(n.Dir, "containerd.toml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		return err
	}
	n.containerd = n.inNamespace("containerd", mustLookPath("containerd"), "--config", path)
	if err := n.containerd.Start(); err != nil {
		return err
	}
	return n.waitFor("containerd", n.containerd, func() (bool, error) {
		return exec.Command("ctr", "-a", n.socket, "version").Run() == nil, nil
	})
}

// ImportImage loads an OCI archive (package images or ociarchive) into
// the node's containerd, under the name the archive carries.
func (n *Node) ImportImage(t TB, archive string) {
	t.Helper()
	if err := n.importImage(archive); err != nil {
		t.Fatalf("node %s: %v", n.Name, err)
	}
}

func (n *Node) importImage(archive string) error {
	out, err := exec.Command("ctr", "-a", n.socket, "-n", "k8s.io", "images", "import", archive).CombinedOutput()
	if err != nil {
		return fmt.Errorf("importing image %s: %v: %s", archive, err, out)
	}
	return nil
}

func (n *Node) importSandboxImage() error {
	archive, err := pauseArchive()
	if err != nil {
		return err
	}
	return n.importImage(archive)
}

// ensureRules routes the in-cluster API address of the node's pods to its
// cluster's API server, and drops pod traffic bound anywhere but this
// machine.
func (n *Node) ensureRules() error {
	port := n.cluster.env.ControlPlane.APIServer.SecureServing.Port
	comment := []string{"-m", "comment", "--comment", "bindery-" + n.Name}
	n.rules = [][]string{
		append([]string{"-t", "nat", "PREROUTING", "-s", n.subnet, "-d", "10.0.0.1", "-p", "tcp", "--dport", "443"}, append(comment, "-j", "DNAT", "--to-destination", net.JoinHostPort(n.IP, port))...),
		append([]string{"-t", "filter", "FORWARD", "-i", n.bridge, "!", "-o", n.bridge}, append(comment, "-j", "DROP")...),
	}
	for _, r := range n.rules {
		if err := iptables("-I", r); err != nil {
			return err
		}
	}
	return nil
}

func iptables(op string, rule []string) error {
	// rule is [-t table chain args...]; the operation goes before the chain.
	args := append([]string{"-w", rule[0], rule[1], op, rule[2]}, rule[3:]...)
	if out, err := exec.Command("iptables", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("iptables %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// cgroupHierarchies are the cgroup hierarchies of this machine: every v1
// hierarchy, and the unified one a hybrid host has beside them.
func cgroupHierarchies() []string {
	entries, _ := os.ReadDir("/sys/fs/cgroup")
	var out []string
	for _, e := range entries {
		p := filepath.Join("/sys/fs/cgroup", e.Name())
		if _, err := os.Stat(filepath.Join(p, "cgroup.procs")); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func (n *Node) ensureCgroupRoot() error {
	for _, h := range cgroupHierarchies() {
		if err := os.MkdirAll(filepath.Join(h, n.cgroup), 0o755); err != nil {
			return fmt.Errorf("creating cgroup %s: %w", filepath.Join(h, n.cgroup), err)
		}
	}
	return nil
}

// ensureScheduler starts the cluster's kube-scheduler with its first node.
func (c *Cluster) ensureScheduler(assets string) error {
	c.nodesMu.Lock()
	defer c.nodesMu.Unlock()
	if c.scheduler != nil {
		return nil
	}
	c.scheduler = &Process{
		Name: "kube-scheduler",
		Path: filepath.Join(assets, "kube-scheduler"),
		Args: []string{"--kubeconfig=" + c.Kubeconfig, "--leader-elect=false", "--secure-port=0", "--v=1"},
		Log:  c.logs.writer("kube-scheduler"),
	}
	return c.scheduler.Start()
}

func (n *Node) startKubelet(assets string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	config := map[string]any{
		"apiVersion":   "kubelet.config.k8s.io/v1beta1",
		"kind":         "KubeletConfiguration",
		"cgroupDriver": "cgroupfs", // no systemd
		"cgroupRoot":   n.cgroup,
		"failCgroupV1": false,
		"failSwapOn":   false,
		// root lacks CAP_SYS_RESOURCE on the test machines
		"oomScoreAdj":                 0,
		"containerRuntimeEndpoint":    "unix://" + n.socket,
		"address":                     n.IP,
		"port":                        port,
		"readOnlyPort":                0,
		"healthzPort":                 0,
		"authentication":              map[string]any{"anonymous": map[string]bool{"enabled": true}, "webhook": map[string]bool{"enabled": false}},
		"authorization":               map[string]string{"mode": "AlwaysAllow"},
		"podLogsDir":                  filepath.Join(n.Dir, "kubelet", "logs"),
		"volumePluginDir":             filepath.Join(n.Dir, "kubelet", "volume-plugins"),
		"evictionHard":                map[string]string{},
		"imageGCHighThresholdPercent": 100,
		"imageGCLowThresholdPercent":  99,
		"makeIPTablesUtilChains":      false,
		"serializeImagePulls":         false,
	}
	raw, err := yaml.Marshal(config)
	if err != nil {
		return err
	}
	path := filepath.Join(n.Dir, "kubelet.yaml")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		return err
	}
	n.kubelet = n.inNamespace("kubelet", filepath.Join(assets, "kubelet"),
		"--config="+path, "--kubeconfig="+n.cluster.Kubeconfig, "--hostname-override="+n.Name, "--node-ip="+n.IP,
		"--root-dir="+filepath.Join(n.Dir, "kubelet", "root"), "--cert-dir="+filepath.Join(n.Dir, "kubelet", "certs"), "--v=1")
	return n.kubelet.Start()
}

func (n *Node) waitReady() error {
	return n.waitFor("the node to be Ready", n.kubelet, func() (bool, error) {
		node, err := n.cluster.Kube.CoreV1().Nodes().Get(context.Background(), n.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		// Pods are scheduled once the node-lifecycle controller took the
		// not-ready taint away.
		for _, taint := range node.Spec.Taints {
			if taint.Key == corev1.TaintNodeNotReady {
				return false, nil
			}
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status == corev1.ConditionTrue, nil
			}
		}
		return false, nil
	})
}

// waitFor polls cond for up to two minutes, failing early when p exits.
func (n *Node) waitFor(what string, p *Process, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(context.Context) (bool, error) {
		if exited, err := p.Exited(); exited {
			return false, fmt.Errorf("%s exited: %v", p.Name, err)
		}
		return cond()
	})
	if err != nil {
		return fmt.Errorf("node %s: waiting for %s: %w", n.Name, what, err)
	}
	return nil
}

// Stop stops the node and removes all it left on the machine. It is safe
// to call more than once.
func (n *Node) Stop() {
	n.stopOnce.Do(func() {
		if n.kubelet != nil {
			n.kubelet.Stop()
		}
		// The pods' processes, then the shims, which outlive containerd.
		n.killCgroupProcesses()
		shims := "containerd-shim.*" + n.socket
		if out, err := exec.Command("pkill", "-KILL", "-f", shims).CombinedOutput(); err != nil && len(out) > 0 {
			fmt.Fprintf(os.Stderr, "framework: node %s: killing shims: %v: %s\n", n.Name, err, out)
		}
		// SIGKILL is asynchronous: wait until the shims are gone.
		for i := 0; i < 100 && exec.Command("pgrep", "-f", shims).Run() == nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
		if n.containerd != nil {
			n.containerd.Stop()
		}
		if n.holder != nil {
			n.holder.Kill()
		}
		n.killStragglers()
		n.removeCgroups()
		_ = exec.Command("ip", "link", "delete", n.bridge).Run()
		for _, r := range n.rules {
			_ = iptables("-D", r)
		}
		n.slot.release()
	})
}

// killStragglers kills, and waits for, any process still running from the
// node's folder: a shim or runc that containerd started while the node
// was stopping outlives containerd.
func (n *Node) killStragglers() {
	for range 100 {
		out, err := exec.Command("pgrep", "-f", n.Dir+"/").Output()
		pids := strings.Fields(string(out))
		if err != nil || len(pids) == 0 {
			return
		}
		for _, f := range pids {
			if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Fprintf(os.Stderr, "framework: node %s: processes of %s still run after 10s\n", n.Name, n.Dir)
}

func (n *Node) killCgroupProcesses() {
	for _, h := range cgroupHierarchies() {
		_ = filepath.WalkDir(filepath.Join(h, n.cgroup), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
				return nil
			}
			raw, _ := os.ReadFile(p)
			for _, f := range strings.Fields(string(raw)) {
				if pid, err := strconv.Atoi(f); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			return nil
		})
	}
}

// removeCgroups removes the node's cgroup folders, deepest first, waiting
// for killed processes to leave them.
func (n *Node) removeCgroups() {
	for _, h := range cgroupHierarchies() {
		root := filepath.Join(h, n.cgroup)
		for range 50 {
			var dirs []string
			_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					dirs = append(dirs, p)
				}
				return nil
			})
			if len(dirs) == 0 {
				break
			}
			for i := len(dirs) - 1; i >= 0; i-- {
				_ = syscall.Rmdir(dirs[i])
			}
			if _, err := os.Stat(root); os.IsNotExist(err) {
				break
			}
			n.killCgroupProcesses()
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// HostIP is this machine's first non-loopback IPv4 address, which nodes
// register as their InternalIP (a kubelet refuses a loopback node IP).
func HostIP() (net.IP, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	for _, i := range ifaces {
		if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagLoopback != 0 || strings.HasPrefix(i.Name, "bindery") {
			continue
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
				return ipn.IP.To4(), nil
			}
		}
	}
	return nil, errors.New("this machine has no non-loopback IPv4 address for a node")
}

// servePods configures the API server of a WithPods cluster: listening on
// every address, with a serving certificate for this machine's address
// and the in-cluster service address, and kubelets reached by InternalIP.
// envtest uses a certificate it finds in its folder instead of making one;
// it then also expects the service-account signing key there.
func servePods(s *envtest.APIServer, args *envtest.Arguments, certDir string) error {
	ip, err := HostIP()
	if err != nil {
		return err
	}
	certPEM, keyPEM, err := cert.GenerateSelfSignedCertKey("localhost",
		[]net.IP{net.ParseIP("127.0.0.1"), ip, net.ParseIP("10.0.0.1")},
		[]string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"})
	if err != nil {
		return fmt.Errorf("making the API server's certificate: %w", err)
	}
	// certPEM is the serving certificate followed by its CA's.
	certs, err := cert.ParseCertsPEM(certPEM)
	if err != nil || len(certs) < 2 {
		return fmt.Errorf("reading the API server's certificate: %v", err)
	}
	ca, err := cert.EncodeCertificates(certs[len(certs)-1])
	if err != nil {
		return err
	}
	saKey, err := keyutil.MakeEllipticPrivateKeyPEM()
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{"apiserver.crt": certPEM, "apiserver.key": keyPEM, "sa-signer.key": saKey, "sa-signer.crt": saKey} {
		if err := os.WriteFile(filepath.Join(certDir, name), data, 0o600); err != nil {
			return err
		}
	}
	s.SecureServing.CA = ca
	args.Set("bind-address", "0.0.0.0")
	// The kubernetes service's endpoint, which may not be a loopback
	// address.
	args.Set("advertise-address", ip.String())
	args.Set("kubelet-preferred-address-types", "InternalIP", "Hostname")
	// Pods get their ServiceAccount's token mounted, which envtest turns
	// off.
	args.Disable("disable-admission-plugins")
	return nil
}

// nodeSlot is a machine-wide number for a node, held with a file lock, so
// that nodes of parallel test binaries get distinct names, bridges,
// subnets and cgroups.
type nodeSlot struct {
	n int
	f *os.File
}

const nodeSlotDir = "/tmp/bindery-nodes"

func takeNodeSlot() (*nodeSlot, error) {
	if err := os.MkdirAll(nodeSlotDir, 0o755); err != nil {
		return nil, err
	}
	global, err := lockFile(filepath.Join(nodeSlotDir, "sysctls.lock"), true)
	if err != nil {
		return nil, err
	}
	defer global.Close() //nolint:errcheck
	for i := 1; i <= 50; i++ {
		f, err := lockFile(filepath.Join(nodeSlotDir, fmt.Sprintf("slot-%d.lock", i)), false)
		if err != nil {
			continue
		}
		// The first node on the machine records the kernel settings the
		// last one puts back.
		if err := saveSysctls(); err != nil {
			_ = f.Close()
			return nil, err
		}
		return &nodeSlot{n: i, f: f}, nil
	}
	return nil, errors.New("no free node slot: 50 nodes run on this machine")
}

func (s *nodeSlot) release() {
	if s == nil {
		return
	}
	_ = s.f.Close()
	global, err := lockFile(filepath.Join(nodeSlotDir, "sysctls.lock"), true)
	if err != nil {
		return
	}
	defer global.Close() //nolint:errcheck
	for i := 1; i <= 50; i++ {
		f, err := lockFile(filepath.Join(nodeSlotDir, fmt.Sprintf("slot-%d.lock", i)), false)
		if err != nil {
			return // another node still runs
		}
		_ = f.Close()
	}
	restoreSysctls()
}

func lockFile(path string, block bool) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	how := syscall.LOCK_EX
	if !block {
		how |= syscall.LOCK_NB
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

var sysctlFile = filepath.Join(nodeSlotDir, "sysctls.json")

func saveSysctls() error {
	if _, err := os.Stat(sysctlFile); err == nil {
		return nil
	}
	values := map[string]string{}
	for _, k := range nodeSysctls {
		if raw, err := os.ReadFile("/proc/sys/" + k); err == nil {
			values[k] = strings.TrimSpace(string(raw))
		}
	}
	raw, _ := json.Marshal(values)
	return os.WriteFile(sysctlFile, raw, 0o644)
}

func restoreSysctls() {
	raw, err := os.ReadFile(sysctlFile)
	if err != nil {
		return
	}
	values := map[string]string{}
	_ = json.Unmarshal(raw, &values)
	for k, v := range values {
		_ = os.WriteFile("/proc/sys/"+k, []byte(v), 0o644)
	}
	_ = os.Remove(sysctlFile)
}

func mustLookPath(name string) string {
	p, err := exec.LookPath(name)
	if err != nil {
		return name
	}
	return p
}

// PodReachableURL is the API server's address as pods, on this cluster's
// nodes or another's, reach it: this machine's address. Only a cluster
// started WithPods listens there.
func (c *Cluster) PodReachableURL() string {
	ip, err := HostIP()
	if err != nil {
		return ""
	}
	return "https://" + net.JoinHostPort(ip.String(), c.env.ControlPlane.APIServer.SecureServing.Port)
}
