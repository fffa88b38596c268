package testenv

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// TestServeGRPC serves the standard health service, calls it through the
// returned connection, and checks that the server is gone after cleanup.
func TestServeGRPC(t *testing.T) {
	ctx := context.Background()
	var target string
	t.Run("serve", func(t *testing.T) {
		cc := ServeGRPC(t, func(g grpc.ServiceRegistrar) { healthpb.RegisterHealthServer(g, health.NewServer()) })
		target = cc.Target()
		resp, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health status %v, want SERVING", resp.Status)
		}
	})
	cc, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	_, err = healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("after cleanup: %v, want code Unavailable", err)
	}
}
