// Command example-operator is the example provider's operator: it
// provisions db.example.com Databases after a delay, as a Crossplane
// composition would, for the end-to-end tests and make demo.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/pflag"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/bindery-dev/bindery/test/exampleoperator"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "example-operator:", err)
		os.Exit(1)
	}
}

func run() error {
	kubeconfig := pflag.String("kubeconfig", "", "Kubeconfig of the provider cluster.")
	delay := pflag.Duration("delay", 3*time.Second, "How long provisioning and deletion take.")
	installCRD := pflag.Bool("install-crd", true, "Create the Database CRD if it is missing.")
	pflag.Parse()
	ctrl.SetLogger(zap.New())
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return err
	}
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(apiextensionsv1.AddToScheme(scheme))
	ctx := ctrl.SetupSignalHandler()
	if *installCRD {
		if err := ensureCRD(ctx, cfg, scheme); err != nil {
			return err
		}
	}
	// client-go's work queue, as Bindery's own managers use
	// (apis/controllerqueue says why).
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{UsePriorityQueue: ptr.To(false)}})
	if err != nil {
		return err
	}
	if err := (&exampleoperator.Reconciler{Client: mgr.GetClient(), Delay: *delay}).SetupWithManager(mgr); err != nil {
		return err
	}
	return mgr.Start(ctx)
}

func ensureCRD(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme) error {
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	crd, err := exampleoperator.CRD()
	if err != nil {
		return err
	}
	if err := c.Create(ctx, crd); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the Database CRD: %w", err)
	}
	for range 100 {
		got := &apiextensionsv1.CustomResourceDefinition{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(crd), got); err == nil {
			for _, cond := range got.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					return nil
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("the Database CRD is not established")
}
