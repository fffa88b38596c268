package scaler

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"

	"github.com/ppa-autoscaler/ppa/api/v1alpha1"
)

// Resolver finds the gRPC address of the runtime serving a model.
type Resolver interface {
	// Resolve returns host:port for the model namespace/name.
	Resolve(ctx context.Context, namespace, name string) (string, error)
}

// ErrNoEndpoint is returned when a Model exists but is not serving yet.
var ErrNoEndpoint = errors.New("model has no serving endpoint yet")

// ModelResolver reads the endpoint from the Model resource's status, which
// the PPA controller sets once the model's InferenceService is ready. Give
// it a cache-backed reader (a controller-runtime cluster's client) so that
// lookups are served from an informer, not the API server.
type ModelResolver struct {
	Reader client.Reader
}

// Resolve implements Resolver.
func (r ModelResolver) Resolve(ctx context.Context, namespace, name string) (string, error) {
	var m v1alpha1.Model
	if err := r.Reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &m); err != nil {
		if apierrors.IsNotFound(err) {
			return "", fmt.Errorf("model %s/%s: no such Model resource: %w", namespace, name, ErrModelNotFound)
		}
		return "", fmt.Errorf("model %s/%s: read Model resource: %w", namespace, name, err)
	}
	if m.Status.Endpoint == "" {
		return "", fmt.Errorf("model %s/%s: %w (status.endpoint is empty)", namespace, name, ErrNoEndpoint)
	}
	return m.Status.Endpoint, nil
}

// WatchModels starts an informer cache of Model resources on the cluster
// cfg points at and returns a resolver reading from it. The cache stops
// with ctx. It needs get, list and watch on models.ppa-autoscaler.io.
func WatchModels(ctx context.Context, cfg *rest.Config) (ModelResolver, error) {
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return ModelResolver{}, fmt.Errorf("watch models: %w", err)
	}
	cl, err := cluster.New(cfg, func(o *cluster.Options) { o.Scheme = scheme })
	if err != nil {
		return ModelResolver{}, fmt.Errorf("watch models: %w", err)
	}
	// Ask for the informer now so that WaitForCacheSync covers it.
	if _, err := cl.GetCache().GetInformer(ctx, &v1alpha1.Model{}); err != nil {
		return ModelResolver{}, fmt.Errorf("watch models: %w", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- cl.Start(ctx) }()
	if !cl.GetCache().WaitForCacheSync(ctx) {
		select {
		case err := <-errc:
			return ModelResolver{}, fmt.Errorf("watch models: %w", err)
		default:
			return ModelResolver{}, fmt.Errorf("watch models: cache did not sync: %w", ctx.Err())
		}
	}
	return ModelResolver{Reader: cl.GetClient()}, nil
}
