package framework

import (
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/util/sets"
)

// The programs a test starts (the backend, the OpenID provider, a
// kubelet) are told a port to listen on before they run. A port picked by
// listening on port 0 comes from the kernel's ephemeral range, from which
// every outgoing connection also takes its local port: under a parallel
// run, a client connection took such a port between the pick and the
// program's bind ("address already in use"). So ports come from below
// that range, where only a listener that asks for the very port can take
// it: each test process hands a port out once, at random, so that test
// processes running side by side rarely try the same one, and checks that
// it is free on every address.

// lowestPort is the lowest port handed out: below it are well-known and
// registered services' ports.
const lowestPort = 10000

// defaultEphemeralStart is Linux's default start of the ephemeral range.
const defaultEphemeralStart = 32768

var handedOut = struct {
	sync.Mutex
	ports sets.Set[int]
}{ports: sets.New[int]()}

// FreePort returns a TCP port, below the ephemeral range, that was free on
// every address a moment ago and that this test process has not handed
// out before.
func FreePort(t TB) int {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func freePort() (int, error) {
	end := ephemeralStart()
	handedOut.Lock()
	defer handedOut.Unlock()
	for range 1000 {
		port := lowestPort + rand.IntN(end-lowestPort)
		if handedOut.ports.Has(port) || !free(port) {
			continue
		}
		handedOut.ports.Insert(port)
		return port, nil
	}
	return 0, errors.New("no free port found below the ephemeral range")
}

// free reports whether port can be listened on, on every address.
func free(port int) bool {
	l, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// ephemeralStart is the first port of the kernel's ephemeral range
// (net.ipv4.ip_local_port_range), read once.
var ephemeralStart = sync.OnceValue(func() int {
	raw, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return defaultEphemeralStart
	}
	fields := strings.Fields(string(raw))
	if len(fields) == 0 {
		return defaultEphemeralStart
	}
	start, err := strconv.Atoi(fields[0])
	if err != nil || start <= lowestPort+1000 {
		return defaultEphemeralStart
	}
	return start
})
