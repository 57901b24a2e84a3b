// Command bindery-demo runs the app team's journey on this machine, for a
// person to watch and try: a provider cluster with bindery-backend (and
// its embedded login) and the example database operator, a consumer
// cluster with the konnector, and kubectl bind between them. `make demo`
// builds and runs it; Ctrl-C or `make demo-down` stops everything.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/bindery-dev/bindery/test/framework"
	"github.com/bindery-dev/bindery/test/stack"
)

type options struct {
	binDir    string
	stateDir  string
	port      int
	autoLogin bool
	exit      bool
}

func main() {
	root := framework.RepoRoot()
	o := options{}
	pflag.StringVar(&o.binDir, "bin-dir", filepath.Join(root, "bin"), "Folder with bindery-backend, kubectl-bind, konnector and example-operator (make build).")
	pflag.StringVar(&o.stateDir, "state-dir", filepath.Join(root, ".cache", "demo"), "Folder for the kubeconfigs and the pid file.")
	pflag.IntVar(&o.port, "port", envInt("DEMO_PORT", 8090), "Port of the backend on localhost; 0 picks a free one. $DEMO_PORT sets the default.")
	pflag.BoolVar(&o.autoLogin, "auto-login", os.Getenv("DEMO_AUTO_LOGIN") == "1", "Log in and choose the template in a headless Chromium instead of your browser. DEMO_AUTO_LOGIN=1 sets it.")
	pflag.BoolVar(&o.exit, "exit", os.Getenv("DEMO_EXIT") == "1", "Stop everything once the database is Ready instead of waiting for Ctrl-C. DEMO_EXIT=1 sets it.")
	pflag.Parse()

	if err := os.MkdirAll(o.stateDir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	pidFile := filepath.Join(o.stateDir, "demo.pid")
	if pid, alive := running(pidFile); alive {
		fmt.Fprintf(os.Stderr, "error: a demo is already running (pid %d); stop it with `make demo-down`\n", pid)
		os.Exit(1)
	}
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}

	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{ctx: ctx, dir: o.stateDir}
	r.Cleanup(func() { _ = os.Remove(pidFile) })
	r.Cleanup(cancel)
	stop := func(code int) {
		fmt.Println("==> Stopping the clusters and processes")
		r.cleanup()
		framework.StopAll()
		if code == 0 {
			fmt.Println("Demo stopped; nothing is left running.")
		}
		os.Exit(code)
	}
	framework.AfterInterrupt = func() { stop(0) }

	func() {
		defer func() {
			if v := recover(); v != nil {
				if _, ok := v.(fatal); !ok {
					r.Errorf("panic: %v", v)
				}
				fmt.Fprintln(os.Stderr, "The demo failed; the logs of every process are above.")
				stop(1)
			}
		}()
		run(r, o)
	}()
	if o.exit {
		stop(0)
	}
	// The framework's signal handler stops everything on Ctrl-C or
	// SIGTERM (make demo-down) and calls AfterInterrupt.
	select {}
}

func run(r *runner, o options) {
	start := time.Now()
	bins := stack.Programs{}
	for _, name := range []string{"bindery-backend", "kubectl-bind", "konnector", "example-operator"} {
		bins[name] = filepath.Join(o.binDir, name)
		if _, err := os.Stat(bins[name]); err != nil {
			r.Fatalf("%s is missing: run `make build` (or `make demo`, which builds it)", bins[name])
		}
	}
	if o.port != 0 {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(o.port))
		if err != nil {
			r.Fatalf("port %d is taken (%v): set DEMO_PORT to another port", o.port, err)
		}
		_ = ln.Close()
	}

	step("Starting a provider and a consumer cluster (etcd, kube-apiserver, kube-controller-manager)")
	cs := framework.StartClusters(r, "provider", "consumer")
	prov, cons := cs[0], cs[1]
	provKC, consKC := filepath.Join(o.stateDir, "provider.kubeconfig"), filepath.Join(o.stateDir, "consumer.kubeconfig")
	copyFile(r, prov.Kubeconfig, provKC)
	copyFile(r, cons.Kubeconfig, consKC)
	provDyn, err := dynamic.NewForConfig(prov.Config)
	if err != nil {
		r.Fatal(err)
	}
	consDyn, err := dynamic.NewForConfig(cons.Config)
	if err != nil {
		r.Fatal(err)
	}

	step("Provider: starting bindery-backend (embedded login) and the example database operator")
	url := stack.StartBackend(r, prov, bins, stack.BackendOptions{Port: o.port, Args: []string{"--public-catalog"}})
	stack.StartOperator(r, prov, bins)
	step("Provider: offering PostgreSQL databases (examples/database/template.yaml)")
	tpl := stack.ApplyTemplate(r, provDyn, "examples/database/template.yaml")
	fmt.Printf("    template %q is Ready\n", tpl)

	step("Consumer: starting the konnector (as a process: there is no container runtime here)")
	stack.StartKonnector(r, cons, bins)

	step("Consumer: kubectl bind " + url)
	args := []string{url, "--skip-konnector", "--timeout=2m"}
	if o.autoLogin {
		args = append(args, "--no-browser")
	} else {
		fmt.Println("    Log in with any user name, then choose \"PostgreSQL database\".")
	}
	proc, out := stack.KubectlBind(r, cons, bins, indent{}, args...)
	if o.autoLogin {
		autoLogin(r, stack.LoginLink(r, proc, out))
	}
	if err := proc.Wait(10 * time.Minute); err != nil {
		r.Fatalf("kubectl bind failed: %v", err)
	}

	step("Consumer: creating Database default/demo; the example operator on the provider provisions it")
	db := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "db.example.com/v1", "kind": "Database",
		"metadata": map[string]any{"namespace": "default", "name": "demo"},
		"spec":     map[string]any{"size": "small", "writeConnectionSecretToRef": map[string]any{"name": "demo-conn"}},
	}}
	framework.Eventually(r, func() (bool, string) {
		_, err := consDyn.Resource(stack.Databases).Namespace("default").Create(r.ctx, db, metav1.CreateOptions{})
		return err == nil, fmt.Sprint(err)
	}, framework.WaitTimeout)
	created, last := time.Now(), ""
	framework.Eventually(r, func() (bool, string) {
		got, err := consDyn.Resource(stack.Databases).Namespace("default").Get(r.ctx, "demo", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		phase, _, _ := unstructured.NestedString(got.Object, "status", "phase")
		if phase != last && phase != "" {
			endpoint, _, _ := unstructured.NestedString(got.Object, "status", "endpoint")
			fmt.Printf("    %5.1fs  phase %s %s\n", time.Since(created).Seconds(), phase, endpoint)
			last = phase
		}
		return phase == "Ready", "database demo is " + phase
	}, 2*time.Minute)
	framework.Eventually(r, func() (bool, string) {
		_, err := cons.Kube.CoreV1().Secrets("default").Get(r.ctx, "demo-conn", metav1.GetOptions{})
		return err == nil, fmt.Sprint(err)
	}, framework.WaitTimeout)
	fmt.Printf("    %5.1fs  connection Secret default/demo-conn arrived\n", time.Since(created).Seconds())

	rel := func(p string) string {
		if r, err := filepath.Rel(mustGetwd(), p); err == nil && !strings.HasPrefix(r, "..") {
			return r
		}
		return p
	}
	if _, err := exec.LookPath("kubectl"); err != nil {
		defer fmt.Println("\nNote: kubectl is not installed here; install it (e.g. apt-get install kubectl) to run the commands above.")
	}
	fmt.Printf(`
Bindery demo is up (%s).

  Backend         %s/export  (catalog: %s/templates)
  Provider        %s
  Consumer        %s
  Process logs    %s (provider: backend, operator)
                  %s (consumer: konnector, kubectl-bind)

Look around:
  %[8]s --kubeconfig %[9]s get databases,secrets -n default
  %[8]s --kubeconfig %[9]s get apiservicebindings
  %[8]s --kubeconfig %[10]s get apiserviceexporttemplates
  %[8]s --kubeconfig %[10]s get databases,apiserviceexports -A
  %[11]s list --kubeconfig %[9]s
  %[11]s unbind %[12]s --kubeconfig %[9]s

Stop: Ctrl-C here, or `+"`make demo-down`"+` in another terminal.
`, time.Since(start).Round(time.Second), url, url, rel(provKC), rel(consKC), prov.Dir, cons.Dir,
		"kubectl", rel(consKC), rel(provKC), rel(bins["kubectl-bind"]), stack.DatabaseBinding)
}

// autoLogin logs in at the embedded issuer and chooses the template in a
// headless Chromium.
func autoLogin(r *runner, link string) {
	step("Logging in headlessly (DEMO_AUTO_LOGIN=1) as demo-user and choosing PostgreSQL")
	browser := framework.Browser(r)
	ctx, cancel := context.WithTimeout(browser, 2*time.Minute)
	defer cancel()
	framework.BrowserStep(r, ctx, "login", chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(`#username`)),
		chromedp.SendKeys(chromedp.CSS(`#username`), "demo-user"),
		chromedp.Click(chromedp.CSS(`#submit`)))
	framework.BrowserStep(r, ctx, "choose postgres", chromedp.WaitVisible(chromedp.CSS(`#bind-postgres`)),
		chromedp.Click(chromedp.CSS(`#bind-postgres`)))
}

func step(msg string) { fmt.Println("==> " + msg) }

// indent prints a program's output indented under the current step.
type indent struct{}

func (indent) Write(p []byte) (int, error) {
	s := strings.ReplaceAll(strings.TrimRight(string(p), "\n"), "\n", "\n    ")
	if s != "" {
		fmt.Println("    " + s)
	}
	return len(p), nil
}

func copyFile(r *runner, from, to string) {
	raw, err := os.ReadFile(from)
	if err == nil {
		err = os.WriteFile(to, raw, 0o600)
	}
	if err != nil {
		r.Fatalf("copying %s: %v", from, err)
	}
	r.Cleanup(func() { _ = os.Remove(to) })
}

// running reads a pid file and says whether its process lives.
func running(pidFile string) (int, bool) {
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	err = syscall.Kill(pid, 0)
	return pid, err == nil || errors.Is(err, syscall.EPERM)
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func mustGetwd() string {
	wd, _ := os.Getwd()
	return wd
}
