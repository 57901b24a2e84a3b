package app

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindery-dev/bindery/backend/internal/options"
)

// TestServerCutsOffSlowClients checks that a client sending its headers
// or its body slowly (slowloris) is disconnected after the server's
// timeouts, so that it cannot hold a connection for ever.
func TestServerCutsOffSlowClients(t *testing.T) {
	assert.NotZero(t, defaultTimeouts.readHeader)
	assert.NotZero(t, defaultTimeouts.read)
	assert.NotZero(t, defaultTimeouts.write)
	assert.NotZero(t, defaultTimeouts.idle)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	s := &httpServer{
		opts: &options.Server{ListenAddress: addr, ExternalURL: "http://" + addr},
		handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
		}),
		log:      testr.New(t),
		timeouts: &serverTimeouts{readHeader: 300 * time.Millisecond, read: time.Second, write: time.Second, idle: time.Second},
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = s.Start(ctx) }()
	var conn net.Conn
	require.Eventually(t, func() bool {
		conn, err = net.Dial("tcp", addr)
		return err == nil
	}, 5*time.Second, 10*time.Millisecond)
	_ = conn.Close()

	tests := []struct {
		name  string
		first string // sent at once, then one byte every 100 ms
	}{
		{"slow headers", "POST /bind HTTP/1.1\r\nHost: x\r\n"},
		{"slow body", "POST /bind HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			defer conn.Close() //nolint:errcheck
			start := time.Now()
			_, err = io.WriteString(conn, tt.first)
			require.NoError(t, err)
			for time.Since(start) < 10*time.Second {
				time.Sleep(100 * time.Millisecond)
				if _, err := io.WriteString(conn, "X"); err != nil {
					break
				}
				_ = conn.SetReadDeadline(time.Now().Add(time.Millisecond))
				if n, err := conn.Read(make([]byte, 1)); n > 0 || (err != nil && !isTimeout(err)) {
					break // answered or closed by the server
				}
			}
			assert.Less(t, time.Since(start), 5*time.Second, "the server kept a slow client")
		})
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
