package framework

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

// PortForward forwards localhost:localPort to a port of a pod, as kubectl
// port-forward does (through the API server and the pod's kubelet), until
// the test ends. localPort 0 picks a free one; the port is returned.
func (c *Cluster) PortForward(t TB, namespace, pod string, localPort, podPort int) int {
	t.Helper()
	transport, upgrader, err := spdy.RoundTripperFor(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(c.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = fmt.Sprintf("/api/v1/namespaces/%s/pods/%s/portforward", namespace, pod)
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
	stop, ready := make(chan struct{}), make(chan struct{})
	log := c.LogWriter("port-forward")
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{strconv.Itoa(localPort) + ":" + strconv.Itoa(podPort)}, stop, ready, log, log)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 1)
	go func() { errs <- fw.ForwardPorts() }()
	t.Cleanup(func() { close(stop) })
	select {
	case <-ready:
	case err := <-errs:
		t.Fatalf("port-forward to %s/%s:%d: %v", namespace, pod, podPort, err)
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) == 0 {
		t.Fatalf("port-forward to %s/%s:%d: %v", namespace, pod, podPort, err)
	}
	return int(ports[0].Local)
}
