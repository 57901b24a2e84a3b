package framework

import (
	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
)

// Scheme knows the built-in Kubernetes types, CRDs, kube-bind v1alpha1 and
// bindery.dev v1alpha1: every type a test reads or writes.
var Scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(Scheme))
	utilruntime.Must(apiextensionsv1.AddToScheme(Scheme))
	utilruntime.Must(kubebindv1alpha1.AddToScheme(Scheme))
	utilruntime.Must(binderyv1alpha1.AddToScheme(Scheme))
}
