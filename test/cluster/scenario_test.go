package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	ppav1 "github.com/ppa-autoscaler/ppa/api/v1alpha1"
	"github.com/ppa-autoscaler/ppa/host/controller"
	"github.com/ppa-autoscaler/ppa/test/testenv"
)

// The scenario's workload: a metric with a daily shape and, every day at
// the same time, a rise to riseValue for riseLength.
const (
	shop         = "shop"
	release      = "ppa"
	releaseNS    = "ppa-system"
	modelName    = "web"
	metric       = "ppa_cluster_demand"
	targetValue  = 100.0
	riseValue    = 880.0
	riseLength   = 40 * time.Minute
	needed       = 9 // ceil(riseValue / targetValue)
	fallbackReps = 5
	// lead is the time a new replica needs to become ready (the Model's
	// spec.scaling.lead): the replicas must reach what the rise needs at
	// least this long before it.
	lead = 2 * time.Minute
	// horizon is the trigger's look-ahead: the lead plus the autoscaling
	// loop's own latency (KEDA's poll, the HPA's sync, the scale-up).
	horizon = 3 * time.Minute
	// riseAfter is how long after the control plane is up the rise comes
	// at the least (then on the next minute): time to install, train and
	// serve before the rise enters the horizon.
	riseAfter = 5 * time.Minute
)

// demand is the metric at t for a workload whose daily rise starts at the
// time of day of rise: 200 ± 50 over the day (with a little deterministic
// noise), riseValue during the rise.
func demand(t, rise time.Time) float64 {
	tod := t.Sub(rise) % (24 * time.Hour)
	if tod < 0 {
		tod += 24 * time.Hour
	}
	if tod < riseLength {
		return riseValue
	}
	day := 2 * math.Pi * tod.Hours() / 24
	noise := 5 * math.Sin(float64(t.Unix()/60)*1.7)
	return 200 + 50*math.Sin(day) + noise
}

// TestPredictiveScalingOnAControlPlane is issue 12's scenario: the whole
// loop on real components, then four faults.
func TestPredictiveScalingOnAControlPlane(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // stops the emulations before the processes are reaped

	began := time.Now()
	minio := testenv.MinIO(t)
	bucket := minio.NewBucket(t)
	c := Start(t, binaries)
	t.Logf("control plane up in %v", time.Since(began).Round(time.Second))

	// The rise comes on the first whole minute riseAfter from now; the
	// history holds the same rise every day before.
	rise := time.Now().Add(riseAfter).Truncate(time.Minute).Add(time.Minute)
	var ts []int64
	var ys []float64
	for at := rise.Add(-15 * 24 * time.Hour); !at.After(rise.Add(2 * time.Hour)); at = at.Add(time.Minute) {
		ts = append(ts, at.UnixMilli())
		ys = append(ys, demand(at, rise))
	}
	prom := testenv.Prometheus(t, testenv.OpenMetrics(metric, nil, ts, ys))

	helmInstall(t, c, minio, bucket)
	ctrl := runDeployment(t, c, "ppa-controller", controllerPorts(t))
	scalerPort := testenv.FreePort(t)
	runDeployment(t, c, "ppa-scaler", []string{"--listen-address=127.0.0.1", "--grpc-port=" + strconv.Itoa(scalerPort),
		"--metrics-port=" + strconv.Itoa(testenv.FreePort(t))})
	validateKServeObjects(t, c)

	trainings := c.TrainingPods(ctx)
	runtimes := c.ServeInferenceServices(ctx)

	must(t, c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: shop}}))
	for _, name := range []string{"web-predictive", "web-reactive"} {
		must(t, c.Client.Create(ctx, deployment(name)))
	}
	model := &ppav1.Model{
		ObjectMeta: metav1.ObjectMeta{Name: modelName, Namespace: shop},
		Spec: ppav1.ModelSpec{
			Source:   ppav1.SourceSpec{Prometheus: ppav1.PrometheusSource{URL: prom.URL, Query: metric, History: "14d", Step: "1m"}},
			Scaling:  ppav1.ScalingSpec{Lead: lead.String(), TargetValue: strconv.FormatFloat(targetValue, 'f', -1, 64)},
			Training: ppav1.TrainingSpec{Schedule: "0 0 1 1 *"},
		},
	}
	must(t, c.Client.Create(ctx, model))
	created := time.Now()
	scalerAddr := "127.0.0.1:" + strconv.Itoa(scalerPort)
	must(t, c.Client.Create(ctx, scaledObject("web-predictive", 0, map[string]any{
		"type": "external",
		"metadata": map[string]any{
			"scalerAddress": scalerAddr, "modelName": modelName, "modelNamespace": shop,
			"targetValue": fmt.Sprint(targetValue), "horizon": horizon.String(),
			"reactiveQuery": metric, "prometheusAddress": prom.URL, "maxForecastAge": "1m",
		},
	})))
	must(t, c.Client.Create(ctx, scaledObject("web-reactive", 1, map[string]any{
		"type":     "prometheus",
		"metadata": map[string]any{"serverAddress": prom.URL, "query": metric, "threshold": fmt.Sprint(targetValue)},
	})))

	// Training: Argo runs the controller's Workflow; its pod's trainer runs
	// here (see the package doc).
	select {
	case tr := <-trainings:
		if tr.ExitCode != 0 {
			t.Fatalf("training pod %s exited %d", tr.Pod, tr.ExitCode)
		}
		t.Logf("first training: Workflow %s, pod %s, %v", tr.Workflow, tr.Pod, tr.Took.Round(time.Millisecond))
	case <-time.After(3 * time.Minute):
		t.Fatalf("no training pod ran within 3 minutes of the Model's creation; workflows: %s", workflowsSummary(ctx, c))
	}
	ready := waitModelReady(t, c)
	t.Logf("Model ready %v after creation: %s; policy %s (%s)", time.Since(created).Round(time.Second),
		condMessage(ready, ppav1.ConditionReady), policySummary(ready), ptrPolicyReason(ready))
	if ready.Status.Policy == nil || ready.Status.Policy.Mode != "predictive" {
		t.Fatalf("the policy learned from the daily rises is %s, want predictive; %s", policySummary(ready), workflowsSummary(ctx, c))
	}

	rec := startRecorder(ctx, c)
	// Both must be below what the rise needs before the predictive one
	// looks far enough ahead to see it.
	before := rise.Add(-horizon - 20*time.Second)
	if time.Now().After(before) {
		t.Fatalf("setup took until %s, past %s (%v before the rise): raise riseAfter", time.Now().Format(time.TimeOnly), before.Format(time.TimeOnly), horizon+20*time.Second)
	}
	sleepUntil(ctx, before)
	if p, r := rec.latest(); p >= needed || r >= needed {
		t.Fatalf("%v before the rise the predictive Deployment has %d ready replicas and the reactive %d: want both below %d", horizon+20*time.Second, p, r, needed)
	}
	deadline := rise.Add(3 * time.Minute)
	if err := c.poll(time.Until(deadline), "the reactive Deployment at the rise's replicas", func() (bool, error) {
		return rec.reached("web-reactive") != nil && rec.reached("web-predictive") != nil, nil
	}); err != nil {
		t.Fatalf("%v\n%s", err, rec.timeline(rise))
	}
	pAt, rAt := *rec.reached("web-predictive"), *rec.reached("web-reactive")
	t.Logf("timeline (rise at %s, %d replicas needed, lead %v, horizon %v):\n"+
		"  predictive reached %d ready replicas at %s: %v before the rise\n"+
		"  reactive   reached %d ready replicas at %s: %v after the rise\n%s",
		rise.Format(time.TimeOnly), needed, lead, horizon,
		needed, pAt.Format(time.TimeOnly), rise.Sub(pAt).Round(time.Second),
		needed, rAt.Format(time.TimeOnly), rAt.Sub(rise).Round(time.Second), rec.timeline(rise))
	if pAt.After(rise.Add(-lead)) {
		t.Errorf("the predictive Deployment reached %d replicas at %s, later than the lead (%v) before the rise at %s",
			needed, pAt.Format(time.TimeOnly), lead, rise.Format(time.TimeOnly))
	}
	if !rAt.After(rise) {
		t.Errorf("the reactive Deployment reached %d replicas at %s, not after the rise at %s", needed, rAt.Format(time.TimeOnly), rise.Format(time.TimeOnly))
	}

	t.Run("controller restart makes no duplicate Workflows", func(t *testing.T) {
		beforeNames := childWorkflows(t, c)
		holder := leaseHolder(t, c)
		ctrl.Stop(10 * time.Second)
		runDeployment(t, c, "ppa-controller", controllerPorts(t))
		// The new process leads once it holds the chart's leader lease;
		// then it reconciles every Model (and again each
		// --runtime-status-interval, 10s here).
		must(t, c.poll(2*time.Minute, "the restarted controller holding the lease", func() (bool, error) {
			h := leaseHolder(t, c)
			return h != "" && h != holder, nil
		}))
		time.Sleep(15 * time.Second)
		after := childWorkflows(t, c)
		if !slices.Equal(beforeNames, after) {
			t.Errorf("Workflows of the Model before the restart %v, after %v", beforeNames, after)
		}
		var m ppav1.Model
		must(t, c.Client.Get(ctx, client.ObjectKeyFromObject(model), &m))
		if cond := condMessage(&m, ppav1.ConditionReady); !strings.Contains(cond, "serving version") {
			t.Errorf("after the restart the Model's Ready condition says %q", cond)
		}
	})

	t.Run("Prometheus down: the forecast alone drives scaling", func(t *testing.T) {
		prom.Kill()
		from := time.Now()
		time.Sleep(30 * time.Second)
		lo, _ := rec.minSince("web-predictive", from)
		if lo < needed {
			t.Errorf("with Prometheus down during the rise the predictive Deployment fell to %d replicas, want it to stay at >= %d from the forecast", lo, needed)
		}
		v, err := externalMetric(ctx, c, "web-predictive")
		if err != nil {
			t.Fatal(err)
		}
		if v < riseValue*0.9 {
			t.Errorf("the external metric through the aggregated API is %v with Prometheus down, want the forecast of the rise (about %v)", v, riseValue)
		}
		if so := getScaledObject(t, c, "web-predictive"); conditionStatus(so, "Fallback") == "True" {
			t.Errorf("KEDA's fallback is active with only Prometheus down: %v", so.Object["status"])
		}
	})

	t.Run("runtime killed: KEDA's fallback applies, never zero", func(t *testing.T) {
		isvc := inferenceService(t, c)
		must(t, runtimes.Kill(shop, isvc))
		from := time.Now()
		// The cached forecast serves for maxForecastAge (1m); then neither
		// a forecast nor the current value is left, the scaler answers
		// Unavailable, and KEDA applies fallback.replicas after
		// failureThreshold failures.
		if err := c.poll(3*time.Minute, "the fallback replicas", func() (bool, error) {
			return rec.latestOf("web-predictive") == fallbackReps, nil
		}); err != nil {
			t.Fatalf("%v\n%s", err, rec.timeline(rise))
		}
		if lo, _ := rec.minSince("web-predictive", from); lo == 0 {
			t.Errorf("the predictive Deployment scaled to zero while its forecasts failed")
		}
		t.Logf("fallback to %d replicas %v after the runtime was killed", fallbackReps, time.Since(from).Round(time.Second))
	})

	t.Run("Model deleted: children collected, the ScaledObject reports the error", func(t *testing.T) {
		isvc := inferenceService(t, c)
		cronName := controller.CronWorkflowName(model)
		wfs := childWorkflows(t, c)
		must(t, c.Client.Delete(ctx, model))
		from := time.Now()
		gone := func(obj client.Object) func() (bool, error) {
			return func() (bool, error) {
				err := c.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj)
				return apierrors.IsNotFound(err), err
			}
		}
		for _, w := range wfs {
			must(t, c.poll(time.Minute, "Workflow "+w+" collected", gone(&wfv1.Workflow{ObjectMeta: metav1.ObjectMeta{Namespace: shop, Name: w}})))
		}
		must(t, c.poll(time.Minute, "CronWorkflow collected", gone(&wfv1.CronWorkflow{ObjectMeta: metav1.ObjectMeta{Namespace: shop, Name: cronName}})))
		u := &unstructured.Unstructured{}
		u.SetAPIVersion(kserveGroupVersion)
		u.SetKind("InferenceService")
		u.SetNamespace(shop)
		u.SetName(isvc)
		must(t, c.poll(time.Minute, "InferenceService collected", gone(u)))
		t.Logf("garbage collector removed %d Workflow(s), the CronWorkflow and the InferenceService in %v", len(wfs), time.Since(from).Round(time.Second))
		var msg string
		must(t, c.poll(2*time.Minute, "a KEDAScalerFailed event naming the missing Model", func() (bool, error) {
			var evs corev1.EventList
			if err := c.Client.List(ctx, &evs, client.InNamespace(shop)); err != nil {
				return false, err
			}
			for _, e := range evs.Items {
				if e.InvolvedObject.Name == "web-predictive" && e.Reason == "KEDAScalerFailed" && (e.LastTimestamp.After(from) || e.EventTime.After(from)) {
					if strings.Contains(e.Message, "no such Model") {
						msg = e.Message
						return true, nil
					}
				}
			}
			return false, nil
		}))
		t.Logf("the ScaledObject reports: %s", msg)
		if lo, _ := rec.minSince("web-predictive", from); lo == 0 {
			t.Errorf("the predictive Deployment scaled to zero after its Model was deleted")
		}
	})
}

// leaseHolder is the holder of the controller's leader-election lease in
// releaseNS ("" without one).
func leaseHolder(t *testing.T, c *Cluster) string {
	t.Helper()
	var leases coordinationv1.LeaseList
	must(t, c.Client.List(context.Background(), &leases, client.InNamespace(releaseNS)))
	for _, l := range leases.Items {
		if l.Spec.HolderIdentity != nil {
			return *l.Spec.HolderIdentity
		}
	}
	return ""
}

// helmInstall installs the chart into releaseNS with the store in MinIO
// and the test's fast intervals.
func helmInstall(t *testing.T, c *Cluster, minio *testenv.MinIOServer, bucket string) {
	t.Helper()
	chart := filepath.Join("..", "..", "charts", "ppa")
	values := map[string]any{
		"store": map[string]any{
			"s3":          map[string]any{"bucket": bucket, "prefix": "ppa", "endpoint": minio.Endpoint, "insecure": true},
			"credentials": map[string]any{"create": true, "accessKeyId": minio.AccessKey, "secretAccessKey": minio.SecretKey},
		},
		"controller": map[string]any{"extraArgs": []string{"--runtime-status-interval=10s"}},
		"scaler":     map[string]any{"refreshInterval": "10s"},
		"runtime":    map[string]any{"pollInterval": "5s"},
	}
	b, err := yaml.Marshal(values)
	must(t, err)
	vf := filepath.Join(t.TempDir(), "values.yaml")
	must(t, os.WriteFile(vf, b, 0o600))
	home := t.TempDir()
	cmd := exec.Command(testenv.Binary(t, "helm"), "install", release, chart, "--namespace", releaseNS, "--create-namespace",
		"--values", vf, "--wait=false")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.Kubeconfig, "HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"), "HELM_DATA_HOME="+filepath.Join(home, "data"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("helm install: %v\n%s", err, out)
	}
}

// runDeployment runs the single container of the chart's Deployment name
// as a local process, as its pod would run it, with extra arguments.
func runDeployment(t *testing.T, c *Cluster, name string, extra []string) *Process {
	t.Helper()
	var d appsv1.Deployment
	must(t, c.Client.Get(context.Background(), client.ObjectKey{Namespace: releaseNS, Name: name}, &d))
	spec := d.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("Deployment %s has %d containers, want 1", name, len(spec.Containers))
	}
	p, err := c.Run(name, Container{Namespace: releaseNS, PodName: name + "-0", ServiceAccount: spec.ServiceAccountName,
		Volumes: spec.Volumes, Container: spec.Containers[0]}, extra...)
	must(t, err)
	return p
}

func controllerPorts(t *testing.T) []string {
	return []string{"--metrics-bind-address=127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)),
		"--health-probe-bind-address=127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))}
}

// validateKServeObjects checks the chart's ClusterServingRuntime against
// KServe's full CRD: what the apiserver stored kept every field the chart
// set (a structural schema prunes unknown ones), and a server-side dry-run
// of it is accepted. The controller's InferenceService gets the same check
// in inferenceService.
func validateKServeObjects(t *testing.T, c *Cluster) {
	t.Helper()
	csr := &unstructured.Unstructured{}
	csr.SetAPIVersion("serving.kserve.io/v1alpha1")
	csr.SetKind("ClusterServingRuntime")
	must(t, c.Client.Get(context.Background(), client.ObjectKey{Name: "ppa-runtime"}, csr))
	args, _, _ := unstructured.NestedSlice(csr.Object, "spec", "containers")
	if len(args) != 1 || !strings.Contains(fmt.Sprint(args[0]), "--grpc-port=") {
		t.Errorf("the stored ClusterServingRuntime lost its container's arguments: %v", args)
	}
	dryRun(t, c, csr)
}

// dryRun creates a copy of obj under another name with a server-side
// dry-run: the apiserver validates it against the CRD's schema.
func dryRun(t *testing.T, c *Cluster, obj *unstructured.Unstructured) {
	t.Helper()
	cp := obj.DeepCopy()
	cp.SetName(obj.GetName() + "-dry-run")
	cp.SetResourceVersion("")
	cp.SetUID("")
	cp.SetOwnerReferences(nil)
	unstructured.RemoveNestedField(cp.Object, "status")
	if err := c.Client.Create(context.Background(), cp, client.DryRunAll); err != nil {
		t.Errorf("server-side dry-run of %s %s against KServe's CRD: %v", obj.GetKind(), obj.GetName(), err)
	}
}

// inferenceService is the one InferenceService in shop, checked against
// KServe's CRD like the ClusterServingRuntime.
func inferenceService(t *testing.T, c *Cluster) string {
	t.Helper()
	var list unstructured.UnstructuredList
	list.SetAPIVersion(kserveGroupVersion)
	list.SetKind("InferenceServiceList")
	must(t, c.Client.List(context.Background(), &list, client.InNamespace(shop)))
	if len(list.Items) != 1 {
		t.Fatalf("%d InferenceServices in %s, want 1", len(list.Items), shop)
	}
	isvc := &list.Items[0]
	args, _, _ := unstructured.NestedStringSlice(isvc.Object, "spec", "predictor", "model", "args")
	if !slices.Contains(args, "--model") {
		t.Errorf("the stored InferenceService lost its predictor's arguments: %v", args)
	}
	dryRun(t, c, isvc)
	return isvc.GetName()
}

func deployment(name string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: shop},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.invalid/web:1"}}},
			},
		},
	}
}

// scaledObject scales the Deployment of the same name with trigger, fast:
// KEDA polls every 5s and the HPA may add or remove any number of pods at
// once (what a team that scales ahead would configure).
func scaledObject(name string, minReplicas int64, trigger map[string]any) *unstructured.Unstructured {
	policy := map[string]any{"stabilizationWindowSeconds": int64(0), "policies": []any{
		map[string]any{"type": "Pods", "value": int64(20), "periodSeconds": int64(5)},
	}}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "keda.sh/v1alpha1",
		"kind":       "ScaledObject",
		"metadata":   map[string]any{"name": name, "namespace": shop},
		"spec": map[string]any{
			"scaleTargetRef":  map[string]any{"name": name},
			"pollingInterval": int64(5),
			"minReplicaCount": minReplicas,
			"maxReplicaCount": int64(20),
			"fallback":        map[string]any{"failureThreshold": int64(3), "replicas": int64(fallbackReps)},
			"advanced": map[string]any{"horizontalPodAutoscalerConfig": map[string]any{
				"behavior": map[string]any{"scaleUp": policy, "scaleDown": policy},
			}},
			"triggers": []any{trigger},
		},
	}}
}

func getScaledObject(t *testing.T, c *Cluster, name string) *unstructured.Unstructured {
	t.Helper()
	so := &unstructured.Unstructured{}
	so.SetAPIVersion("keda.sh/v1alpha1")
	so.SetKind("ScaledObject")
	must(t, c.Client.Get(context.Background(), client.ObjectKey{Namespace: shop, Name: name}, so))
	return so
}

func conditionStatus(obj *unstructured.Unstructured, typ string) string {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, x := range conds {
		if m, ok := x.(map[string]any); ok && m["type"] == typ {
			s, _ := m["status"].(string)
			return s
		}
	}
	return ""
}

// externalMetric reads the ScaledObject's metric as the HPA controller
// does: through the aggregated external metrics API.
func externalMetric(ctx context.Context, c *Cluster, so string) (float64, error) {
	hpa := fmt.Sprintf("keda-hpa-%s", so)
	var h struct {
		Spec struct {
			Metrics []struct {
				External *struct {
					Metric struct {
						Name string `json:"name"`
					} `json:"metric"`
				} `json:"external"`
			} `json:"metrics"`
		} `json:"spec"`
	}
	raw, err := c.Kube.AutoscalingV2().RESTClient().Get().Namespace(shop).Resource("horizontalpodautoscalers").Name(hpa).DoRaw(ctx)
	if err != nil {
		return 0, fmt.Errorf("HPA %s: %w", hpa, err)
	}
	if err := json.Unmarshal(raw, &h); err != nil || len(h.Spec.Metrics) == 0 || h.Spec.Metrics[0].External == nil {
		return 0, fmt.Errorf("HPA %s: no external metric (%v)", hpa, err)
	}
	name := h.Spec.Metrics[0].External.Metric.Name
	raw, err = c.Kube.CoreV1().RESTClient().Get().AbsPath("/apis/external.metrics.k8s.io/v1beta1/namespaces", shop, name).
		Param("labelSelector", "scaledobject.keda.sh/name="+so).DoRaw(ctx)
	if err != nil {
		return 0, fmt.Errorf("external metric %s: %w", name, err)
	}
	var list struct {
		Items []struct {
			Value string `json:"value"`
		} `json:"items"`
	}
	if err := json.Unmarshal(raw, &list); err != nil || len(list.Items) != 1 {
		return 0, fmt.Errorf("external metric %s: %s (%v)", name, raw, err)
	}
	q, err := resource.ParseQuantity(list.Items[0].Value)
	if err != nil {
		return 0, fmt.Errorf("external metric %s: %w", name, err)
	}
	return q.AsApproximateFloat64(), nil
}

// waitModelReady waits for the Model's Ready condition and its policy, and
// returns the Model.
func waitModelReady(t *testing.T, c *Cluster) *ppav1.Model {
	t.Helper()
	var m ppav1.Model
	err := c.poll(3*time.Minute, "Model "+shop+"/"+modelName+" Ready", func() (bool, error) {
		if err := c.Client.Get(context.Background(), client.ObjectKey{Namespace: shop, Name: modelName}, &m); err != nil {
			return false, err
		}
		// Ready, with the policy of the serving version.
		for _, cond := range m.Status.Conditions {
			if cond.Type == ppav1.ConditionReady {
				return cond.Status == metav1.ConditionTrue && m.Status.Policy != nil, fmt.Errorf("%s: %s; policy %s", cond.Reason, cond.Message, policySummary(&m))
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return &m
}

func condMessage(m *ppav1.Model, typ string) string {
	for _, cond := range m.Status.Conditions {
		if cond.Type == typ {
			return cond.Message
		}
	}
	return ""
}

func policySummary(m *ppav1.Model) string {
	p := m.Status.Policy
	if p == nil {
		return "none"
	}
	return strings.TrimSpace(p.Mode + " " + p.Forecaster + " " + p.Rules + " gap closed " + p.GapClosed)
}

func ptrPolicyReason(m *ppav1.Model) string {
	if m.Status.Policy == nil {
		return ""
	}
	return m.Status.Policy.Reason
}

// childWorkflows lists the names of the Model's Workflows.
func childWorkflows(t *testing.T, c *Cluster) []string {
	t.Helper()
	var wfs wfv1.WorkflowList
	must(t, c.Client.List(context.Background(), &wfs, client.InNamespace(shop), client.MatchingLabels{controller.LabelModel: modelName}))
	var names []string
	for _, w := range wfs.Items {
		names = append(names, w.Name)
	}
	slices.Sort(names)
	return names
}

func workflowsSummary(ctx context.Context, c *Cluster) string {
	var wfs wfv1.WorkflowList
	if err := c.Client.List(ctx, &wfs); err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, w := range wfs.Items {
		fmt.Fprintf(&b, "%s/%s %s %q, outputs:", w.Namespace, w.Name, w.Status.Phase, w.Status.Message)
		if o := w.Status.Outputs; o != nil {
			for _, p := range o.Parameters {
				fmt.Fprintf(&b, " %s (%d bytes)", p.Name, len(p.Value.String()))
			}
		}
		b.WriteString("; ")
	}
	return b.String()
}

func sleepUntil(ctx context.Context, at time.Time) {
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(at)):
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// recorder samples both Deployments' ready replicas every second.
type recorder struct {
	mu      sync.Mutex
	samples map[string][]sample
}

type sample struct {
	at    time.Time
	ready int32
}

func startRecorder(ctx context.Context, c *Cluster) *recorder {
	r := &recorder{samples: map[string][]sample{}}
	go func() {
		for ctx.Err() == nil {
			for _, name := range []string{"web-predictive", "web-reactive"} {
				var d appsv1.Deployment
				if err := c.Client.Get(ctx, client.ObjectKey{Namespace: shop, Name: name}, &d); err == nil {
					r.mu.Lock()
					r.samples[name] = append(r.samples[name], sample{time.Now(), d.Status.ReadyReplicas})
					r.mu.Unlock()
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	return r
}

// reached is when name first had needed ready replicas, or nil.
func (r *recorder) reached(name string) *time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.samples[name] {
		if s.ready >= needed {
			return &s.at
		}
	}
	return nil
}

func (r *recorder) latestOf(name string) int32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.samples[name]
	if len(s) == 0 {
		return -1
	}
	return s[len(s)-1].ready
}

func (r *recorder) latest() (predictive, reactive int32) {
	return r.latestOf("web-predictive"), r.latestOf("web-reactive")
}

// minSince is the fewest ready replicas name had since from.
func (r *recorder) minSince(name string, from time.Time) (int32, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	lo, ok := int32(math.MaxInt32), false
	for _, s := range r.samples[name] {
		if !s.at.Before(from) {
			lo, ok = min(lo, s.ready), true
		}
	}
	return lo, ok
}

// timeline prints each change of ready replicas relative to the rise.
func (r *recorder) timeline(rise time.Time) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, name := range []string{"web-predictive", "web-reactive"} {
		fmt.Fprintf(&b, "  %s:", name)
		last := int32(-1)
		for _, s := range r.samples[name] {
			if s.ready != last {
				fmt.Fprintf(&b, " %+ds→%d", int(s.at.Sub(rise).Seconds()), s.ready)
				last = s.ready
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}
