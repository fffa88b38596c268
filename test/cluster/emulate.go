package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ppa-autoscaler/ppa/test/testenv"
)

// Argo's names for what its executor reads and writes (workflow/common).
const (
	argoLabelWorkflow        = "workflows.argoproj.io/workflow"
	argoLabelOutputsComplete = "workflows.argoproj.io/report-outputs-completed"
	argoAnnotationNodeID     = "workflows.argoproj.io/node-id"
	argoEnvTemplate          = "ARGO_TEMPLATE"
	argoMainContainer        = "main"
	// exitCodeAnnotation carries a training process's exit code to KWOK's
	// stages (testdata/kwok-workflow-stages.yaml), which end the pod.
	exitCodeAnnotation = "harness.ppa-autoscaler.io/exit-code"
	// trainingTimeout bounds one training process.
	trainingTimeout = 10 * time.Minute
)

// Training is one training pod the harness ran.
type Training struct {
	Pod      string
	Workflow string
	ExitCode int
	Took     time.Duration
}

// TrainingPods plays the kubelet and Argo's wait container for the pods of
// Argo Workflows until ctx ends: once KWOK reports a pod Running, its main
// container runs as a local process; when it exits, its output parameters
// are read from the files the template names and reported as a
// WorkflowTaskResult (as argoexec's wait container does), and the exit code
// is written to the pod for KWOK to end it. Each finished training is sent
// on the returned channel.
func (c *Cluster) TrainingPods(ctx context.Context) <-chan Training {
	out := make(chan Training, 16)
	seen := map[types.UID]bool{}
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	wg.Add(1)
	c.t.Cleanup(func() { cancel(); wg.Wait() })
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			var pods corev1.PodList
			if err := c.Client.List(ctx, &pods, client.HasLabels{argoLabelWorkflow}); err != nil && ctx.Err() == nil {
				c.t.Logf("cluster: list workflow pods: %v", err)
			}
			for i := range pods.Items {
				p := &pods.Items[i]
				if seen[p.UID] || p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
					continue
				}
				seen[p.UID] = true
				wg.Add(1)
				go func() {
					defer wg.Done()
					tr, err := c.runTrainingPod(ctx, p)
					if err != nil {
						if ctx.Err() == nil {
							c.t.Errorf("cluster: training pod %s/%s: %v", p.Namespace, p.Name, err)
						}
						return
					}
					select {
					case out <- tr:
					case <-ctx.Done():
					}
				}()
			}
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
	return out
}

func (c *Cluster) runTrainingPod(ctx context.Context, p *corev1.Pod) (Training, error) {
	tr := Training{Pod: p.Name, Workflow: p.Labels[argoLabelWorkflow]}
	i := slices.IndexFunc(p.Spec.Containers, func(c corev1.Container) bool { return c.Name == argoMainContainer })
	if i < 0 {
		return tr, fmt.Errorf("no %q container", argoMainContainer)
	}
	main := p.Spec.Containers[i]
	// The template Argo hands its executor (on the wait and init
	// containers, where argoexec reads it).
	var tmpl wfv1.Template
	found := false
	for _, ctr := range slices.Concat(p.Spec.InitContainers, p.Spec.Containers) {
		for _, e := range ctr.Env {
			if e.Name == argoEnvTemplate && !found {
				if err := json.Unmarshal([]byte(e.Value), &tmpl); err != nil {
					return tr, fmt.Errorf("%s of container %s: %w", argoEnvTemplate, ctr.Name, err)
				}
				found = true
			}
		}
	}
	if !found {
		return tr, fmt.Errorf("no container carries %s", argoEnvTemplate)
	}
	start := time.Now()
	proc, err := c.Run("train-"+p.Name, Container{
		Namespace: p.Namespace, PodName: p.Name, ServiceAccount: p.Spec.ServiceAccountName,
		Volumes: p.Spec.Volumes, Container: main,
	})
	if err != nil {
		return tr, err
	}
	werr := proc.Wait(trainingTimeout)
	tr.Took = time.Since(start)
	var exit *exec.ExitError
	switch {
	case werr == nil:
	case errors.As(werr, &exit):
		tr.ExitCode = exit.ExitCode()
	default:
		proc.Stop(0)
		return tr, fmt.Errorf("training process: %w", werr)
	}
	c.t.Logf("cluster: training pod %s/%s: exit %d after %v; output:\n%s", p.Namespace, p.Name, tr.ExitCode, tr.Took.Round(time.Millisecond), proc.Log())

	// Argo's wait container: the outputs, then the pod's end.
	var outputs wfv1.Outputs
	code := strconv.Itoa(tr.ExitCode)
	outputs.ExitCode = &code
	if tr.ExitCode == 0 {
		for _, par := range tmpl.Outputs.Parameters {
			if par.ValueFrom == nil || par.ValueFrom.Path == "" {
				continue
			}
			b, err := os.ReadFile(proc.LocalPath(par.ValueFrom.Path))
			if err != nil {
				return tr, fmt.Errorf("output parameter %s: %w", par.Name, err)
			}
			// As argoexec reports it: the template's parameter (its
			// global name included) with the value read.
			par.Value = wfv1.AnyStringPtr(string(b))
			outputs.Parameters = append(outputs.Parameters, par)
		}
	}
	owner := metav1.GetControllerOf(p)
	if owner == nil {
		return tr, fmt.Errorf("pod has no owning Workflow")
	}
	result := &wfv1.WorkflowTaskResult{
		ObjectMeta: metav1.ObjectMeta{
			Name: p.Annotations[argoAnnotationNodeID], Namespace: p.Namespace,
			Labels:          map[string]string{argoLabelWorkflow: tr.Workflow, argoLabelOutputsComplete: "true"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: wfv1.SchemeGroupVersion.String(), Kind: "Workflow", Name: owner.Name, UID: owner.UID}},
		},
		NodeResult: wfv1.NodeResult{Outputs: &outputs},
	}
	if err := c.Client.Create(ctx, result); err != nil {
		return tr, fmt.Errorf("task result: %w", err)
	}
	patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"`+exitCodeAnnotation+`":"`+code+`"}}}`))
	if err := c.Client.Patch(ctx, p, patch); err != nil {
		return tr, fmt.Errorf("annotate exit code: %w", err)
	}
	return tr, nil
}

// KServe's names for what the harness reads and writes.
const (
	kserveGroupVersion = "serving.kserve.io/v1beta1"
	kserveContainer    = "kserve-container"
)

// Runtimes plays KServe's controller for the InferenceServices of the
// cluster until ctx ends: for each new one it merges the named
// ClusterServingRuntime's container with the predictor (KServe appends the
// predictor's arguments and adds its environment), runs that as a local
// process on loopback, waits until it is ready, and reports the
// InferenceService Ready with the process's gRPC address. A deleted
// InferenceService's process is stopped.
type Runtimes struct {
	c  *Cluster
	mu sync.Mutex
	// running by InferenceService UID.
	running map[types.UID]*servedISVC
}

type servedISVC struct {
	key      types.NamespacedName
	proc     *Process
	grpcAddr string
}

// ServeInferenceServices starts the emulation.
func (c *Cluster) ServeInferenceServices(ctx context.Context) *Runtimes {
	r := &Runtimes{c: c, running: map[types.UID]*servedISVC{}}
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(ctx)
	c.t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if err := r.sync(ctx); err != nil && ctx.Err() == nil {
				c.t.Errorf("cluster: kserve emulation: %v", err)
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
	return r
}

func (r *Runtimes) sync(ctx context.Context) error {
	var list unstructured.UnstructuredList
	list.SetAPIVersion(kserveGroupVersion)
	list.SetKind("InferenceServiceList")
	if err := r.c.Client.List(ctx, &list); err != nil {
		return fmt.Errorf("list InferenceServices: %w", err)
	}
	present := map[types.UID]bool{}
	for i := range list.Items {
		isvc := &list.Items[i]
		present[isvc.GetUID()] = true
		r.mu.Lock()
		_, ok := r.running[isvc.GetUID()]
		r.mu.Unlock()
		if ok || isvc.GetDeletionTimestamp() != nil {
			continue
		}
		s, err := r.start(ctx, isvc)
		if err != nil {
			return fmt.Errorf("InferenceService %s/%s: %w", isvc.GetNamespace(), isvc.GetName(), err)
		}
		r.mu.Lock()
		r.running[isvc.GetUID()] = s
		r.mu.Unlock()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for uid, s := range r.running {
		if !present[uid] {
			r.c.t.Logf("cluster: InferenceService %s deleted: stopping its runtime", s.key)
			s.proc.Stop(10 * time.Second)
			delete(r.running, uid)
		}
	}
	return nil
}

func (r *Runtimes) start(ctx context.Context, isvc *unstructured.Unstructured) (*servedISVC, error) {
	var pred struct {
		ServiceAccountName string `json:"serviceAccountName"`
		Model              struct {
			corev1.Container `json:",inline"`
			Runtime          string `json:"runtime"`
		} `json:"model"`
	}
	spec, _, _ := unstructured.NestedMap(isvc.Object, "spec", "predictor")
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(spec, &pred); err != nil {
		return nil, fmt.Errorf("predictor: %w", err)
	}
	if pred.Model.Runtime == "" {
		return nil, fmt.Errorf("predictor names no runtime (KServe's runtime auto-selection is not emulated)")
	}
	csr := &unstructured.Unstructured{}
	csr.SetAPIVersion("serving.kserve.io/v1alpha1")
	csr.SetKind("ClusterServingRuntime")
	if err := r.c.Client.Get(ctx, client.ObjectKey{Name: pred.Model.Runtime}, csr); err != nil {
		return nil, fmt.Errorf("ClusterServingRuntime %s: %w", pred.Model.Runtime, err)
	}
	var rs struct {
		Containers []corev1.Container `json:"containers"`
		Volumes    []corev1.Volume    `json:"volumes"`
	}
	rspec, _, _ := unstructured.NestedMap(csr.Object, "spec")
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(rspec, &rs); err != nil {
		return nil, fmt.Errorf("ClusterServingRuntime %s: %w", pred.Model.Runtime, err)
	}
	i := slices.IndexFunc(rs.Containers, func(c corev1.Container) bool { return c.Name == kserveContainer })
	if i < 0 {
		return nil, fmt.Errorf("ClusterServingRuntime %s has no %s container", pred.Model.Runtime, kserveContainer)
	}
	merged := rs.Containers[i]
	merged.Args = append(slices.Clone(merged.Args), pred.Model.Args...)
	merged.Env = append(slices.Clone(merged.Env), pred.Model.Env...)
	merged.EnvFrom = append(slices.Clone(merged.EnvFrom), pred.Model.EnvFrom...)

	httpPort, grpcPort := testenv.FreePort(r.c.t), testenv.FreePort(r.c.t)
	name := "runtime-" + isvc.GetNamespace() + "-" + isvc.GetName()
	proc, err := r.c.Run(name, Container{
		Namespace: isvc.GetNamespace(), PodName: isvc.GetName() + "-predictor", ServiceAccount: pred.ServiceAccountName,
		Volumes: rs.Volumes, Container: merged,
	}, "--listen-address=127.0.0.1", "--http-port="+strconv.Itoa(httpPort), "--grpc-port="+strconv.Itoa(grpcPort),
		"--cache-dir="+r.c.path(name+"-cache"))
	if err != nil {
		return nil, err
	}
	s := &servedISVC{key: types.NamespacedName{Namespace: isvc.GetNamespace(), Name: isvc.GetName()}, proc: proc,
		grpcAddr: "127.0.0.1:" + strconv.Itoa(grpcPort)}
	// KServe reports Ready once the predictor's readiness probe passes: the
	// runtime is ready once its models are loaded, which may wait for the
	// first training.
	go func() {
		url := "http://127.0.0.1:" + strconv.Itoa(httpPort)
		if err := readyURL(ctx, proc, url+"/v2/health/ready"); err != nil {
			if ctx.Err() == nil {
				r.c.t.Errorf("cluster: InferenceService %s: runtime: %v", s.key, err)
			}
			return
		}
		if err := r.reportReady(ctx, isvc, url, s.grpcAddr); err != nil && ctx.Err() == nil {
			r.c.t.Errorf("cluster: InferenceService %s: %v", s.key, err)
			return
		}
		r.c.t.Logf("cluster: InferenceService %s served by a local ppa-runtime, gRPC %s", s.key, s.grpcAddr)
	}()
	return s, nil
}

// reportReady writes the status KServe writes for a ready predictor.
func (r *Runtimes) reportReady(ctx context.Context, isvc *unstructured.Unstructured, url, grpcAddr string) error {
	now := metav1.Now().UTC().Format(time.RFC3339)
	status := map[string]any{
		"url": url,
		"conditions": []any{
			map[string]any{"type": "PredictorReady", "status": "True", "lastTransitionTime": now},
			map[string]any{"type": "Ready", "status": "True", "lastTransitionTime": now},
		},
		"components": map[string]any{"predictor": map[string]any{"url": url, "grpcUrl": "grpc://" + grpcAddr}},
	}
	patch, err := json.Marshal(map[string]any{"status": status})
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	if err := r.c.Client.Status().Patch(ctx, isvc, client.RawPatch(types.MergePatchType, patch)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("status: %w", err)
	}
	return nil
}

// Kill ends the runtime of an InferenceService abruptly (SIGKILL), as a
// crashed pod; the emulation does not restart it.
func (r *Runtimes) Kill(namespace, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.running {
		if s.key.Namespace == namespace && s.key.Name == name {
			s.proc.Stop(0)
			return nil
		}
	}
	return fmt.Errorf("no runtime serves InferenceService %s/%s", namespace, name)
}

// readyURL polls url until it answers 200, the process exits or ctx ends.
func readyURL(ctx context.Context, p *Process, url string) error {
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		if exited, err := p.Exited(); exited {
			return fmt.Errorf("exited before it was ready (%v):\n%s", err, p.Log())
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("readiness request: %w", err)
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}
