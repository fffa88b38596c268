package controller

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/ppa-autoscaler/ppa/host/runtime/inferencepb"
)

// RuntimeQuerier asks a running PPA runtime what it serves.
type RuntimeQuerier interface {
	// ServedVersion returns the version of model the runtime at endpoint
	// (gRPC host:port) serves; an error when it serves none or cannot be
	// asked.
	ServedVersion(ctx context.Context, endpoint, model string) (string, error)
}

// DefaultRuntimeQueryTimeout bounds one question to a runtime.
const DefaultRuntimeQueryTimeout = 3 * time.Second

// GRPCRuntime asks runtimes over the Open Inference Protocol's gRPC
// ModelMetadata call (plaintext, as the scaler does), keeping one
// connection per endpoint.
type GRPCRuntime struct {
	// Timeout of one call; zero: DefaultRuntimeQueryTimeout.
	Timeout time.Duration

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

// ServedVersion implements RuntimeQuerier.
func (g *GRPCRuntime) ServedVersion(ctx context.Context, endpoint, model string) (string, error) {
	cc, err := g.conn(endpoint)
	if err != nil {
		return "", err
	}
	timeout := g.Timeout
	if timeout <= 0 {
		timeout = DefaultRuntimeQueryTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	md, err := inferencepb.NewGRPCInferenceServiceClient(cc).ModelMetadata(ctx, &inferencepb.ModelMetadataRequest{Name: model})
	if err != nil {
		if status.Code(err) == codes.NotFound {
			return "", fmt.Errorf("the runtime at %s does not serve model %s", endpoint, model)
		}
		return "", fmt.Errorf("ask the runtime at %s about model %s: %w", endpoint, model, err)
	}
	if len(md.Versions) == 0 || md.Versions[0] == "" {
		return "", fmt.Errorf("the runtime at %s reports no version of model %s", endpoint, model)
	}
	return md.Versions[0], nil
}

func (g *GRPCRuntime) conn(endpoint string) (*grpc.ClientConn, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if cc, ok := g.conns[endpoint]; ok {
		return cc, nil
	}
	cc, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("runtime %s: %w", endpoint, err)
	}
	if g.conns == nil {
		g.conns = map[string]*grpc.ClientConn{}
	}
	g.conns[endpoint] = cc
	return cc, nil
}
