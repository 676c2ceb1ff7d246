package network_test

import (
	"context"
	"testing"
	"time"

	"github.com/skiff-dev/skiff/internal/network"
	"github.com/skiff-dev/skiff/internal/network/nettest"
)

func TestDialContextIn(t *testing.T) {
	nettest.RequireRoot(t)
	ns := nettest.NewNamespace(t, "dial")
	ln, err := ns.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close()
		}
		accepted <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The namespace's loopback is not the test's: only a dial made in there reaches it.
	c, err := network.DialContextIn(ns.Path)(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial in the namespace: %v", err)
	}
	c.Close()
	if err := <-accepted; err != nil {
		t.Fatal(err)
	}
	if _, err := network.DialContextIn("/proc/self/ns/no-such")(ctx, "tcp", ln.Addr().String()); err == nil {
		t.Error("a dial into a namespace that does not exist succeeded")
	}
}
