// Command pause is the pod sandbox program of the tests' node: it holds a
// pod's namespaces, reaps the zombies of processes that share its PID
// namespace, and exits on SIGINT or SIGTERM, as Kubernetes' own pause
// does. Nothing can be pulled on the test machine, so the node's sandbox
// image is built from it.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
