package testenv

import (
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// ServeGRPC serves the services that register adds, in this process, on a
// free 127.0.0.1 port, and returns a plaintext client connection to them.
// t.Cleanup closes the connection and stops the server.
func ServeGRPC(t testing.TB, register func(grpc.ServiceRegistrar)) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: grpc: listen: %v", err)
	}
	g := grpc.NewServer()
	register(g)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("testenv: grpc: client of %s: %v", lis.Addr(), err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}
