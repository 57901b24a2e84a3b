// Package framework starts real Kubernetes clusters for integration and
// end-to-end tests.
//
// Each Cluster is an etcd, a kube-apiserver and a kube-controller-manager,
// built from source by `make envtest` and found through KUBEBUILDER_ASSETS.
// The controller manager runs the garbage collector, namespace and
// service-account(-token) controllers, so owner references are collected,
// deleted namespaces really go away and legacy token Secrets are filled in,
// as on a real cluster.
//
// Clusters are independent: one test can start a provider and several
// consumers. They are safe for parallel tests, write their kubeconfig to
// disk, and are stopped by t.Cleanup whether the test passes, fails or
// panics. When a test fails, the last lines of every process's log are
// printed so that a red CI run can be diagnosed from its output alone.
package framework
