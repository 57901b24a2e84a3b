package framework

import (
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFreePortsStayOutOfTheEphemeralRange checks that the ports handed out
// lie below the range outgoing connections take theirs from, are never
// handed out twice, and can be listened on, and that free, which FreePort
// asks before it hands a port out, sees a port someone listens on.
func TestFreePortsStayOutOfTheEphemeralRange(t *testing.T) {
	end := ephemeralStart()
	seen := map[int]bool{}
	for range 200 {
		port := FreePort(t)
		assert.GreaterOrEqual(t, port, lowestPort)
		assert.Less(t, port, end)
		assert.False(t, seen[port], "port %d handed out twice", port)
		seen[port] = true
	}

	// free sees a port someone listens on as taken.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close() //nolint:errcheck
	taken := l.Addr().(*net.TCPAddr).Port
	assert.False(t, free(taken))

	port := FreePort(t)
	l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	require.NoError(t, err, "listening on the handed-out port %d", port)
	_ = l2.Close()
}
