package kro

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/go-logr/logr"
	kservev1beta1 "github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	ppav1 "github.com/ppa-autoscaler/ppa/api/v1alpha1"
	"github.com/ppa-autoscaler/ppa/host/controller"
	"github.com/ppa-autoscaler/ppa/host/decision"
	"github.com/ppa-autoscaler/ppa/host/policy"
	"github.com/ppa-autoscaler/ppa/test/testenv"
)

// The kind kro generates from the chart's graph (values kro.group,
// kro.apiVersion and kro.kind, left at their defaults).
var kroModelGVK = schema.GroupVersionKind{Group: "kro.ppa-autoscaler.io", Version: "v1alpha1", Kind: "KroModel"}

// rgdGVK is kro's own ResourceGraphDefinition.
var rgdGVK = schema.GroupVersionKind{Group: "kro.run", Version: "v1alpha1", Kind: "ResourceGraphDefinition"}

// kroCreatedBy is the trainer's --created-by under kro: the graph names
// kro, where the controller names itself.
const kroCreatedBy = "kro/{{workflow.name}}"

// modelCases are Model specs (as YAML) that the test applies both as a
// PPA Model, for the controller, and as a KroModel, for kro.
var modelCases = []struct{ name, spec string }{
	{"minimal", `
source:
  prometheus:
    url: http://prometheus.monitoring:9090
    query: sum(rate(http_requests_total[1m]))
serving:
  mode: dedicated
`},
	{"everything", `
source:
  prometheus:
    url: https://prometheus.monitoring:9090
    query: sum by (pod) (rate(http_requests_total[5m]))
    aggregate: sum
    history: 7d
    step: 30s
    auth:
      bearerToken: {name: prom-token, key: token}
      ca: {name: prom-ca, key: ca.crt, optional: true}
      insecureSkipVerify: true
forecaster: {name: prophet, version: 1.2.3}
scaling: {lead: 10m, targetValue: "100", targetUtilization: "0.7"}
parameters: {weekly_seasonality: "true", changepoint_prior_scale: "0.1", growth: linear}
training:
  schedule: "0 3 * * *"
  timeZone: Europe/Paris
  suspend: true
  holdout: 1d
  gate: {maxMASE: "1.5", maxSMAPE: "0.3"}
  resources: {requests: {cpu: 250m, memory: 128Mi}, limits: {memory: 1Gi}}
  serviceAccountName: trainer
serving:
  mode: dedicated
  runtime: ppa-runtime-v2
  minReplicas: 2
  maxReplicas: 4
  resources: {requests: {cpu: 100m}}
  serviceAccountName: predictor
store:
  uri: s3://other-bucket/ppa?endpoint=s3.example:9000
  credentialsSecret: {name: other-creds}
`},
	{"basic-auth", `
source:
  prometheus:
    url: http://prometheus:9090
    query: up
    auth:
      basicAuth:
        username: {name: prom-basic, key: user}
        password: {name: prom-basic, key: pass, optional: false}
forecaster: {name: seasonal-naive}
serving:
  mode: dedicated
store:
  uri: /var/lib/ppa/store
`},
}

// TestResourceGraphDefinition runs the chart's graph under kro and the
// controller beside it, and checks that every KroModel expands into what
// the controller makes of the same Model, up to what the graph documents
// as different (--created-by, the pod label managed-by, the owner's kind),
// that the instance's status follows finished trainings as the Model's
// does, and that kro deletes the objects with the instance.
//
// It runs twice: with the schemaless Argo and KServe CRDs the controller's
// tests use, and with the full ones of the versions in go.mod, whose
// schemas kro type-checks the graph against and the API server prunes and
// validates the objects by.
func TestResourceGraphDefinition(t *testing.T) {
	kroCRDs := testenv.KroCRDs(t) // fails first, naming make deps, when kro is missing
	root := repoRoot(t)
	for _, tt := range []struct {
		name string
		crds []string
	}{
		// The Workflow, CronWorkflow and InferenceService CRDs the
		// controller's tests use.
		{"schemaless CRDs", []string{filepath.Join(root, "host", "controller", "testdata", "crds")}},
		{"full CRDs", fullCRDs(t)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			testResourceGraphDefinition(t, root, append(tt.crds, kroCRDs))
		})
	}
}

// fullCRDs are the schema-carrying Workflow, CronWorkflow and
// InferenceService CRDs of the Argo and KServe modules in go.mod, read from
// the module cache (the test binary is built from those modules, so they
// are there).
func fullCRDs(t *testing.T) []string {
	t.Helper()
	dir := func(module string) string {
		out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module).Output()
		if err != nil || strings.TrimSpace(string(out)) == "" {
			t.Fatalf("go list -m %s: %v (%s)", module, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	argo, kserve := dir("github.com/argoproj/argo-workflows/v3"), dir("github.com/kserve/kserve")
	return []string{
		filepath.Join(argo, "manifests", "base", "crds", "full", "argoproj.io_workflows.yaml"),
		filepath.Join(argo, "manifests", "base", "crds", "full", "argoproj.io_cronworkflows.yaml"),
		filepath.Join(kserve, "config", "crd", "full", "serving.kserve.io_inferenceservices.yaml"),
	}
}

// testResourceGraphDefinition is TestResourceGraphDefinition on an API
// server with the given third-party CRDs (files or folders).
func testResourceGraphDefinition(t *testing.T, root string, crds []string) {
	objs := helmTemplate(t, root, "-f", filepath.Join("test", "kro", "testdata", "values.yaml"))
	rgd := findObject(t, objs, "ResourceGraphDefinition", "ppa-kro-model")
	opts := controllerOptions(t, findObject(t, objs, "Deployment", "ppa-controller"))

	cfg, c, kubeconfig := startAPIServer(t, root, crds)
	testenv.Kro(t, kubeconfig)
	startController(t, cfg, c.Scheme(), opts)
	ctx := context.Background()

	if err := c.Create(ctx, rgd); err != nil {
		t.Fatalf("create the ResourceGraphDefinition: %v", err)
	}
	waitFor(t, "the ResourceGraphDefinition to be Active", func() (bool, string) {
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(rgdGVK)
		if err := c.Get(ctx, client.ObjectKeyFromObject(rgd), got); err != nil {
			return false, err.Error()
		}
		state, _, _ := unstructured.NestedString(got.Object, "status", "state")
		conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		for _, c := range conds {
			if c, _ := c.(map[string]any); c["type"] == "GraphAccepted" && c["status"] == "False" {
				t.Fatalf("kro rejects the chart's ResourceGraphDefinition: %s", c["message"])
			}
		}
		return state == "Active", fmt.Sprintf("state %q, conditions %v", state, conds)
	})

	exampleModel(t, c, root)

	type made struct {
		instance *unstructured.Unstructured
		children []client.Object
	}
	var all []made
	for _, mc := range modelCases {
		t.Run(mc.name, func(t *testing.T) {
			var spec ppav1.ModelSpec
			if err := yaml.UnmarshalStrict([]byte(mc.spec), &spec); err != nil {
				t.Fatalf("model spec: %v", err)
			}
			var rawSpec map[string]any
			if err := yaml.Unmarshal([]byte(mc.spec), &rawSpec); err != nil {
				t.Fatal(err)
			}
			const name = "web"
			ctrlNS, kroNS := newNamespace(t, c, "ctrl-"+mc.name), newNamespace(t, c, "kro-"+mc.name)
			model := &ppav1.Model{ObjectMeta: metav1.ObjectMeta{Namespace: ctrlNS, Name: name}, Spec: spec}
			if err := c.Create(ctx, model); err != nil {
				t.Fatalf("create Model: %v", err)
			}
			inst := &unstructured.Unstructured{Object: map[string]any{"spec": rawSpec}}
			inst.SetGroupVersionKind(kroModelGVK)
			inst.SetNamespace(kroNS)
			inst.SetName(name)
			if err := c.Create(ctx, inst); err != nil {
				t.Fatalf("create %s: %v", kroModelGVK.Kind, err)
			}
			if err := c.Get(ctx, client.ObjectKeyFromObject(inst), inst); err != nil {
				t.Fatal(err)
			}

			// What the controller made.
			var ctrlWF wfv1.Workflow
			waitFor(t, "the controller's first-training Workflow", func() (bool, string) {
				var l wfv1.WorkflowList
				if err := c.List(ctx, &l, client.InNamespace(ctrlNS), client.MatchingLabels{controller.LabelModel: name}); err != nil {
					return false, err.Error()
				}
				if len(l.Items) != 1 {
					var m ppav1.Model
					if err := c.Get(ctx, client.ObjectKeyFromObject(model), &m); err != nil {
						return false, err.Error()
					}
					return false, fmt.Sprintf("%d workflows; Model conditions %+v", len(l.Items), m.Status.Conditions)
				}
				ctrlWF = l.Items[0]
				return true, ""
			})
			var ctrlCW wfv1.CronWorkflow
			waitGet(t, c, types.NamespacedName{Namespace: ctrlNS, Name: controller.CronWorkflowName(model)}, &ctrlCW)
			var ctrlISVC kservev1beta1.InferenceService
			waitGet(t, c, types.NamespacedName{Namespace: ctrlNS, Name: controller.DedicatedInferenceServiceName(model)}, &ctrlISVC)

			// The arguments kro must give the trainer: the controller's,
			// with this namespace's model and kro as the creator.
			ctrlArgs := ctrlWF.Spec.Templates[0].Container.Args
			wantArgs := kroArgs(t, ctrlArgs, ctrlNS+"/"+name, kroNS+"/"+name)
			kroModel := &ppav1.Model{ObjectMeta: metav1.ObjectMeta{Namespace: kroNS, Name: name}}
			wfName := controller.InitialWorkflowName(kroModel, wantArgs)

			kroWF := onlyWorkflow(t, c, inst, "")
			if kroWF.Name != wfName {
				t.Errorf("first-training Workflow %s, want %s (the controller's name for these arguments)", kroWF.Name, wfName)
			}
			var kroCW wfv1.CronWorkflow
			waitGet(t, c, types.NamespacedName{Namespace: kroNS, Name: controller.CronWorkflowName(kroModel)}, &kroCW)
			var kroISVC kservev1beta1.InferenceService
			waitGet(t, c, types.NamespacedName{Namespace: kroNS, Name: controller.DedicatedInferenceServiceName(kroModel)}, &kroISVC)

			// The instance's status: kro's state and the objects' names.
			waitFor(t, "the instance's status", func() (bool, string) {
				got := &unstructured.Unstructured{}
				got.SetGroupVersionKind(kroModelGVK)
				if err := c.Get(ctx, client.ObjectKeyFromObject(inst), got); err != nil {
					return false, err.Error()
				}
				want := map[string]string{"state": "ACTIVE", "trainingWorkflow": kroWF.Name,
					"cronWorkflow": kroCW.Name, "inferenceService": kroISVC.Name}
				for k, v := range want {
					if s, _, _ := unstructured.NestedString(got.Object, "status", k); s != v {
						return false, fmt.Sprintf("status %v, want %v", got.Object["status"], want)
					}
				}
				return true, ""
			})

			// The fields the issue names, checked on their own first.
			tc := kroWF.Spec.Templates[0].Container
			if tc.Image != opts.TrainerImage || !slices.Equal(tc.Command, []string{opts.TrainerCommand}) {
				t.Errorf("trainer image %q command %v, want %q [%s]", tc.Image, tc.Command, opts.TrainerImage, opts.TrainerCommand)
			}
			if !slices.Equal(tc.Args, wantArgs) {
				t.Errorf("trainer args:\n  %q\nwant:\n  %q", tc.Args, wantArgs)
			}
			wantStore := opts.DefaultStoreURI
			if spec.Store != nil {
				wantStore = spec.Store.URI
			}
			if got := argAfter(tc.Args, "--store"); got != wantStore {
				t.Errorf("trainer --store %q, want %q", got, wantStore)
			}
			if got := kroISVC.Spec.Predictor.Model.Args; !slices.Equal(got, controller.RuntimeArgs(wantStore, kroModel)) {
				t.Errorf("runtime args %q, want %q", got, controller.RuntimeArgs(wantStore, kroModel))
			}
			wantSchedule := spec.Training.Schedule
			if wantSchedule == "" {
				wantSchedule = ppav1.DefaultSchedule
			}
			if want := wantSchedule; kroCW.Spec.Schedule != want {
				t.Errorf("schedule %q, want %q", kroCW.Spec.Schedule, want)
			}
			for _, o := range []client.Object{kroWF, &kroCW, &kroISVC} {
				checkMeta(t, o, inst, name)
			}
			if got := kroWF.Labels[controller.LabelTraining]; got != "initial" {
				t.Errorf("workflow label %s = %q, want initial", controller.LabelTraining, got)
			}

			// Then everything: the controller's objects, normalised.
			wantWF := normaliseWorkflowSpec(ctrlWF.Spec, wantArgs)
			sameJSON(t, "Workflow spec", kroWF.Spec, wantWF)
			wantCW := ctrlCW.Spec.DeepCopy()
			wantCW.WorkflowSpec = normaliseWorkflowSpec(wantCW.WorkflowSpec, wantArgs)
			wantCW.WorkflowMetadata.Labels["app.kubernetes.io/managed-by"] = "kro"
			sameJSON(t, "CronWorkflow spec", kroCW.Spec, *wantCW)
			wantISVC := ctrlISVC.Spec.DeepCopy()
			wantISVC.Predictor.Model.Args = controller.RuntimeArgs(wantStore, kroModel)
			sameJSON(t, "InferenceService spec", kroISVC.Spec, *wantISVC)
			const modeKey = "serving.kserve.io/deploymentMode"
			if got, want := kroISVC.Annotations[modeKey], ctrlISVC.Annotations[modeKey]; got != want || want == "" {
				t.Errorf("InferenceService annotation %s = %q, want the controller's %q", modeKey, got, want)
			}
			all = append(all, made{inst, []client.Object{kroWF, &kroCW, &kroISVC}})

			// Trainings finish (as Argo would report them): the status
			// follows them as the controller's does.
			// (The scheduled run is Argo's: the garbage collector, not kro,
			// removes it with the CronWorkflow.)
			retrain := finishTrainings(t, c, ctrlNS, ctrlWF.Name)
			finishTrainings(t, c, kroNS, kroWF.Name)
			var want ppav1.ModelStatus
			waitFor(t, "the controller's status from the trainings", func() (bool, string) {
				var m ppav1.Model
				if err := c.Get(ctx, client.ObjectKeyFromObject(model), &m); err != nil {
					return false, err.Error()
				}
				want = m.Status
				return m.Status.LastTrainingWorkflow == retrain.Name && m.Status.ServingVersion != "", fmt.Sprintf("%+v", m.Status)
			})
			checkTrainingStatus(t, c, inst, want)

			// The predictor becomes Ready (as KServe would report it): the
			// endpoint is the controller's, in the instance's namespace.
			predictor := map[string]map[string]any{
				"minimal":    {"url": "http://web.example.com"},
				"everything": {"url": "http://web.example.com", "grpcUrl": "grpc://web-grpc.example.com"},
			}[mc.name]
			for _, isvc := range []*kservev1beta1.InferenceService{&ctrlISVC, &kroISVC} {
				ready(t, c, isvc, predictor)
			}
			var wantEndpoint string
			waitFor(t, "the controller's endpoint", func() (bool, string) {
				var m ppav1.Model
				if err := c.Get(ctx, client.ObjectKeyFromObject(model), &m); err != nil {
					return false, err.Error()
				}
				wantEndpoint = strings.ReplaceAll(m.Status.Endpoint, "."+ctrlNS+".", "."+kroNS+".")
				return wantEndpoint != "", fmt.Sprintf("%+v", m.Status)
			})
			waitFor(t, "the instance's endpoint", func() (bool, string) {
				got := &unstructured.Unstructured{}
				got.SetGroupVersionKind(kroModelGVK)
				if err := c.Get(ctx, client.ObjectKeyFromObject(inst), got); err != nil {
					return false, err.Error()
				}
				e, _, _ := unstructured.NestedString(got.Object, "status", "endpoint")
				return e == wantEndpoint, fmt.Sprintf("endpoint %q, want %q", e, wantEndpoint)
			})

			if mc.name == "minimal" {
				all[len(all)-1].children[0] = changeInputs(t, c, inst, kroModel, ctrlArgs, ctrlNS+"/"+name, kroWF)
			}
		})
	}
	if t.Failed() {
		return
	}

	// kro deletes what it made with the instance (envtest runs no garbage
	// collector: the owner references cannot be what removes them).
	for _, m := range all {
		if err := c.Delete(ctx, m.instance); err != nil {
			t.Fatalf("delete %s %s: %v", kroModelGVK.Kind, m.instance.GetName(), err)
		}
	}
	for _, m := range all {
		for _, o := range append([]client.Object{m.instance}, m.children...) {
			key := client.ObjectKeyFromObject(o)
			kind := fmt.Sprintf("%T", o)
			waitFor(t, fmt.Sprintf("%s %s to be deleted", kind, key), func() (bool, string) {
				err := c.Get(ctx, key, o)
				if apierrors.IsNotFound(err) {
					return true, ""
				}
				if err != nil {
					return false, err.Error()
				}
				return false, fmt.Sprintf("still there (deletionTimestamp %v, finalizers %v)", o.GetDeletionTimestamp(), o.GetFinalizers())
			})
		}
	}
}

// changeInputs changes the instance's query and checks that kro makes the
// first training for the new inputs under the name the controller would
// give it, and prunes the old one (the controller keeps it). It returns
// the new Workflow.
func changeInputs(t *testing.T, c client.Client, inst *unstructured.Unstructured, kroModel *ppav1.Model, ctrlArgs []string, ctrlModel string, old *wfv1.Workflow) *wfv1.Workflow {
	t.Helper()
	ctx := context.Background()
	const query = "sum(rate(http_requests_total[5m]))"
	patch := []byte(`{"spec":{"source":{"prometheus":{"query":"` + query + `"}}}}`)
	if err := c.Patch(ctx, inst, client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatalf("patch the query: %v", err)
	}
	args := kroArgs(t, ctrlArgs, ctrlModel, kroModel.Namespace+"/"+kroModel.Name)
	args[slices.Index(args, "--query")+1] = query
	// Pruning the old one leaves one.
	wf := onlyWorkflow(t, c, inst, old.Name)
	if want := controller.InitialWorkflowName(kroModel, args); wf.Name != want {
		t.Errorf("first training for the new inputs is %s, want %s", wf.Name, want)
	}
	if got := wf.Spec.Templates[0].Container.Args; !slices.Equal(got, args) {
		t.Errorf("new first training's args %q, want %q", got, args)
	}
	return wf
}

// onlyWorkflow waits until the instance has exactly one Workflow (by the
// Model label), not named notName, and returns it. The last state seen
// includes the instance's status.
func onlyWorkflow(t *testing.T, c client.Client, inst *unstructured.Unstructured, notName string) *wfv1.Workflow {
	t.Helper()
	ctx := context.Background()
	var wf *wfv1.Workflow
	waitFor(t, fmt.Sprintf("one first-training Workflow of %s %s/%s", kroModelGVK.Kind, inst.GetNamespace(), inst.GetName()), func() (bool, string) {
		var l wfv1.WorkflowList
		if err := c.List(ctx, &l, client.InNamespace(inst.GetNamespace()),
			client.MatchingLabels{controller.LabelModel: inst.GetName(), controller.LabelTraining: "initial"}); err != nil {
			return false, err.Error()
		}
		var names []string
		for _, w := range l.Items {
			names = append(names, w.Name)
		}
		if len(l.Items) == 1 && l.Items[0].Name != notName {
			wf = &l.Items[0]
			return true, ""
		}
		return false, fmt.Sprintf("workflows %v; %s", names, instanceStatus(c, inst))
	})
	return wf
}

// instanceStatus describes the instance's status, for failures.
func instanceStatus(c client.Client, inst *unstructured.Unstructured) string {
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(kroModelGVK)
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(inst), got); err != nil {
		return err.Error()
	}
	st, _, _ := unstructured.NestedMap(got.Object, "status")
	return fmt.Sprintf("instance status %v", st)
}

// kroArgs is the controller's trainer arguments with kro's model name and
// creator.
func kroArgs(t *testing.T, ctrlArgs []string, ctrlModel, kroModel string) []string {
	t.Helper()
	args := slices.Clone(ctrlArgs)
	for _, r := range []struct{ flag, from, to string }{
		{"--model", ctrlModel, kroModel},
		{"--created-by", "", kroCreatedBy},
	} {
		i := slices.Index(args, r.flag)
		if i < 0 || i+1 >= len(args) {
			t.Fatalf("controller's trainer args have no %s: %q", r.flag, ctrlArgs)
		}
		if r.from != "" && args[i+1] != r.from {
			t.Fatalf("controller's trainer %s %q, want %q", r.flag, args[i+1], r.from)
		}
		args[i+1] = r.to
	}
	return args
}

// normaliseWorkflowSpec is the controller's workflow spec as the graph
// renders it: kro's trainer arguments and managed-by pod label (kro's
// workflowMetadata has the same label).
func normaliseWorkflowSpec(s wfv1.WorkflowSpec, args []string) wfv1.WorkflowSpec {
	out := *s.DeepCopy()
	tmpl := &out.Templates[0]
	tmpl.Container.Args = args
	tmpl.Metadata.Labels["app.kubernetes.io/managed-by"] = "kro"
	return out
}

// checkMeta checks what every object kro makes carries: the Model label,
// kro's instance labels, and the instance as controlling owner.
func checkMeta(t *testing.T, o client.Object, inst *unstructured.Unstructured, name string) {
	t.Helper()
	id := fmt.Sprintf("%T %s", o, client.ObjectKeyFromObject(o))
	l := o.GetLabels()
	for k, v := range map[string]string{
		controller.LabelModel:          name,
		"kro.run/instance-name":        name,
		"kro.run/instance-kind":        kroModelGVK.Kind,
		"kro.run/instance-id":          string(inst.GetUID()),
		"app.kubernetes.io/managed-by": "kro",
	} {
		if l[k] != v {
			t.Errorf("%s: label %s = %q, want %q", id, k, l[k], v)
		}
	}
	refs := o.GetOwnerReferences()
	want := metav1.OwnerReference{APIVersion: kroModelGVK.GroupVersion().String(), Kind: kroModelGVK.Kind, Name: name,
		UID: inst.GetUID(), Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}
	if len(refs) != 1 || !equality.Semantic.DeepEqual(refs[0], want) {
		t.Errorf("%s: owner references %+v, want [%+v]", id, refs, want)
	}
}

// sameJSON compares got and want as JSON (what the API server stores),
// printing both when they differ.
func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.MarshalIndent(want, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g, w) {
		t.Errorf("%s under kro differs from the controller's:\n--- kro\n%s\n--- controller (normalised)\n%s", what, g, w)
	}
}

// argAfter is the value after flag in args, or "".
func argAfter(args []string, flag string) string {
	if i := slices.Index(args, flag); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

// controllerOptions are the controller's options from the flags the chart
// gives its Deployment, as cmd/ppa-controller reads them.
func controllerOptions(t *testing.T, obj *unstructured.Unstructured) controller.Options {
	t.Helper()
	var d appsv1.Deployment
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &d); err != nil {
		t.Fatalf("controller Deployment: %v", err)
	}
	flags := map[string]string{}
	for _, a := range d.Spec.Template.Spec.Containers[0].Args {
		k, v, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		flags[k] = v
	}
	opts := controller.NewOptions()
	opts.TrainerImage = flags["trainer-image"]
	opts.TrainerCommand = flags["trainer-command"]
	opts.DefaultStoreURI = flags["default-store-uri"]
	opts.DefaultStoreCredentialsSecret = flags["default-store-credentials-secret"]
	opts.StoreCredentialsNamespace = flags["store-credentials-namespace"]
	opts.TrainingServiceAccount = flags["training-service-account"]
	opts.DeploymentMode = flags["deployment-mode"]
	if b := flags["builtin-forecasters"]; b != "" {
		opts.BuiltinForecasters = strings.Split(b, ",")
	}
	p, err := controller.ParseTrainingPod(flags["training-pod"])
	if err != nil {
		t.Fatalf("--training-pod: %v", err)
	}
	opts.TrainingPod = p
	if err := opts.Validate(); err != nil {
		t.Fatalf("controller options from the chart: %v", err)
	}
	return opts
}

// startAPIServer starts kube-apiserver and etcd with PPA's CRDs and those
// of crds (files or folders), and returns its config, a client and the path
// of an admin kubeconfig for kro.
func startAPIServer(t *testing.T, root string, crds []string) (*rest.Config, client.Client, string) {
	t.Helper()
	cfg, kubeconfig := testenv.StartEnvtest(t, &envtest.Environment{
		CRDDirectoryPaths: append([]string{filepath.Join(root, "charts", "ppa", "files", "crds")}, crds...),
		// The full Argo CRDs are megabytes: on a busy machine they take
		// longer than envtest's default 10 s to be served (a wait, not a
		// timing check).
		CRDInstallOptions: envtest.CRDInstallOptions{MaxTime: 2 * time.Minute},
	}, "kro")
	scheme, err := controller.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return cfg, c, kubeconfig
}

// startController runs the controller's reconcilers with opts in this
// process until the test ends.
func startController(t *testing.T, cfg *rest.Config, scheme *runtime.Scheme, opts controller.Options) {
	t.Helper()
	ctrl.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	cacheOpts, err := controller.CacheOptions()
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  cacheOpts,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatalf("manager: %v", err)
	}
	if err := controller.Setup(mgr, opts); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("manager: %v", err)
		}
	})
}

// newNamespace creates a namespace named after prefix.
func newNamespace(t *testing.T, c client.Client, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	if err := c.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

// waitGet waits until the object key exists and reads it into o.
func waitGet(t *testing.T, c client.Client, key types.NamespacedName, o client.Object) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%T %s", o, key), func() (bool, string) {
		err := c.Get(context.Background(), key, o)
		return err == nil, fmt.Sprint(err)
	})
}

// waitFor polls cond until it holds. It is a wait, not a timing check:
// the limit only turns a controller that never gets there into a failure
// that shows the last state seen.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	const limit = 90 * time.Second
	deadline := time.Now().Add(limit)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %v; last state: %s", what, limit, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// helmTemplate renders charts/ppa (release ppa in ppa-system) with the
// real helm and returns its objects.
func helmTemplate(t *testing.T, root string, args ...string) []*unstructured.Unstructured {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(testenv.Binary(t, "helm"), append([]string{"template", "ppa", filepath.Join("charts", "ppa"), "--namespace", "ppa-system"}, args...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, stderr.String())
	}
	var objs []*unstructured.Unstructured
	for _, doc := range strings.Split(string(out), "\n---") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("helm template output: %v\n%s", err, doc)
		}
		if len(m) > 0 {
			objs = append(objs, &unstructured.Unstructured{Object: m})
		}
	}
	return objs
}

// findObject returns the rendered object of that kind and name.
func findObject(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("helm template rendered no %s %s", kind, name)
	return nil
}

// repoRoot is the module root: the directory of go.mod above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatalf("no go.mod above %s", dir)
		}
	}
}

// TestClusterRoleCoversTheGraph: the ClusterRole the chart adds for kro's
// aggregation mode grants every verb kro uses on each kind the graph makes
// and on the generated kind's group, for the default and other kind names.
func TestClusterRoleCoversTheGraph(t *testing.T) {
	root := repoRoot(t)
	for _, group := range []string{"kro.ppa-autoscaler.io", "models.acme.example"} {
		objs := helmTemplate(t, root, "--set", "kro.enabled=true", "--set", "kro.group="+group)
		var role rbacv1.ClusterRole
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(findObject(t, objs, "ClusterRole", "ppa-kro-model").Object, &role); err != nil {
			t.Fatal(err)
		}
		if role.Labels["rbac.kro.run/aggregate-to-controller"] != "true" {
			t.Errorf("ClusterRole labels %v: not aggregated into kro's", role.Labels)
		}
		rgd := findObject(t, objs, "ResourceGraphDefinition", "ppa-kro-model")
		resources, _, err := unstructured.NestedSlice(rgd.Object, "spec", "resources")
		if err != nil || len(resources) == 0 {
			t.Fatalf("graph resources: %v (%d)", err, len(resources))
		}
		write := []string{"get", "list", "watch", "create", "update", "patch", "delete"}
		type need struct {
			group, resource string
			verbs           []string
		}
		needs := []need{{group, "*", write}}
		for _, r := range resources {
			r := r.(map[string]any)
			obj, verbs := r["template"], write
			if ref, ok := r["externalRef"]; ok {
				obj, verbs = ref, []string{"get", "list", "watch"} // read, never written
			}
			o, _ := obj.(map[string]any)
			gv, err := schema.ParseGroupVersion(fmt.Sprint(o["apiVersion"]))
			if err != nil || o["kind"] == nil {
				t.Fatalf("graph resource %v: no apiVersion and kind (%v)", r["id"], err)
			}
			// The kinds' plurals are their lower-case names plus s.
			needs = append(needs, need{gv.Group, strings.ToLower(fmt.Sprint(o["kind"])) + "s", verbs})
		}
		for _, n := range needs {
			for _, verb := range n.verbs {
				if !allows(role.Rules, n.group, n.resource, verb) {
					t.Errorf("group %s: ClusterRole does not allow %s on %s.%s", group, verb, n.resource, n.group)
				}
			}
		}
	}
}

// allows reports whether rules grant verb on resource in group.
func allows(rules []rbacv1.PolicyRule, group, resource, verb string) bool {
	for _, r := range rules {
		if slices.Contains(r.APIGroups, group) &&
			(slices.Contains(r.Resources, resource) || slices.Contains(r.Resources, "*")) &&
			(slices.Contains(r.Verbs, verb) || slices.Contains(r.Verbs, "*")) {
			return true
		}
	}
	return false
}

// exampleModel applies the chart's example Model (examples/model.yaml) as a
// KroModel, with apiVersion and kind changed: accepted without
// serving.mode, refused with mode shared, and with a non-HTTP URL, an
// unknown aggregation or no replicas, each error naming the field.
func exampleModel(t *testing.T, c client.Client, root string) {
	t.Helper()
	ctx := context.Background()
	raw, err := os.ReadFile(filepath.Join(root, "charts", "ppa", "examples", "model.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ns := newNamespace(t, c, "kro-example")
	for _, bad := range []struct{ path, value, field string }{
		{"spec.source.prometheus.url", "ftp://prometheus:9090", "spec.source.prometheus.url"},
		{"spec.source.prometheus.aggregate", "median", "spec.source.prometheus.aggregate"},
		{"spec.serving.minReplicas", "0", "spec.serving.minReplicas"},
	} {
		inst := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(raw, &inst.Object); err != nil {
			t.Fatal(err)
		}
		inst.SetGroupVersionKind(kroModelGVK)
		inst.SetNamespace(ns)
		unstructured.RemoveNestedField(inst.Object, "spec", "serving", "mode")
		var v any = bad.value
		if bad.value == "0" {
			v = int64(0)
		}
		if err := unstructured.SetNestedField(inst.Object, v, strings.Split(bad.path, ".")...); err != nil {
			t.Fatal(err)
		}
		err := c.Create(ctx, inst)
		if err == nil || !strings.Contains(err.Error(), bad.field) {
			t.Errorf("a KroModel with %s %s: error %v, want one naming %s", bad.path, bad.value, err, bad.field)
		}
	}
	for _, mode := range []string{"shared", ""} {
		inst := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(raw, &inst.Object); err != nil {
			t.Fatal(err)
		}
		inst.SetGroupVersionKind(kroModelGVK)
		inst.SetNamespace(ns)
		if mode == "" {
			unstructured.RemoveNestedField(inst.Object, "spec", "serving", "mode")
		} else if got, _, _ := unstructured.NestedString(inst.Object, "spec", "serving", "mode"); got != mode {
			t.Fatalf("examples/model.yaml: serving.mode %q, want %q (the test expects the example to ask for it)", got, mode)
		}
		err := c.Create(ctx, inst)
		switch {
		case mode == "shared" && err == nil:
			t.Errorf("a KroModel with serving.mode shared was accepted")
		case mode == "shared" && !strings.Contains(err.Error(), "spec.serving.mode"):
			t.Errorf("a KroModel with serving.mode shared: error %q does not name spec.serving.mode", err)
		case mode == "" && err != nil:
			t.Errorf("the example Model as a KroModel: %v", err)
		case mode == "":
			// kro expands it like any other; the cases below check what.
			onlyWorkflow(t, c, inst, "")
			if err := c.Delete(ctx, inst); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestInstallerVersion: the kro that test/scripts/install-kro.sh builds is
// the one testenv starts.
func TestInstallerVersion(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "test", "scripts", "install-kro.sh"))
	if err != nil {
		t.Fatal(err)
	}
	want := "KRO_VERSION=${KRO_VERSION:-" + testenv.KroVersion + "}"
	if !strings.Contains(string(raw), want) {
		t.Errorf("install-kro.sh does not default to testenv.KroVersion: no line %q", want)
	}
}

// TestStoreRequiredWithoutDefault: without a store in the chart's values
// every KroModel must name its own (the controller reports NoStore; the
// generated CRD refuses the instance instead).
func TestStoreRequiredWithoutDefault(t *testing.T) {
	root := repoRoot(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "Store | required=true"},
		{[]string{"--set", "store.uri=/var/lib/ppa"}, "Store"},
	} {
		objs := helmTemplate(t, root, append([]string{"--set", "kro.enabled=true"}, tt.args...)...)
		rgd := findObject(t, objs, "ResourceGraphDefinition", "ppa-kro-model")
		got, _, err := unstructured.NestedString(rgd.Object, "spec", "schema", "spec", "store")
		if err != nil || got != tt.want {
			t.Errorf("%v: schema of spec.store %q (%v), want %q", tt.args, got, err, tt.want)
		}
	}
}

// Versions of the simulated trainings: the first one is accepted, the
// later scheduled one rejected by the gate.
const (
	acceptedVersion = "20260301T120000Z"
	rejectedVersion = "20260301T130000Z"
)

// finishTrainings reports the first training in ns as Succeeded with an
// accepted version and a predictive policy, and adds a later scheduled
// training (as the CronWorkflow would start it) whose version the gate
// rejected, each with the trainer's result as its global output parameter.
// It returns the scheduled one.
func finishTrainings(t *testing.T, c client.Client, ns, initial string) *wfv1.Workflow {
	t.Helper()
	ctx := context.Background()
	pol := &policy.Policy{Mode: policy.ModePredictive, Reason: "closes 61.2% of the gap", Forecaster: "prophet",
		Decision: &policy.Decision{Aggregation: decision.AggMax, Bound: decision.BoundUpper, ReactiveFloor: true},
		Benefit:  &policy.Benefit{GapClosed: 0.6123, PooledGapClosed: 0.5}}
	finish := func(name, finished, version string, rejected bool, p *policy.Policy) {
		res, err := json.Marshal(map[string]any{"model": ns + "/web", "version": version, "rejected": rejected,
			"reason": map[bool]string{true: "mase 1.7 > 1.5"}[rejected], "policy": p})
		if err != nil {
			t.Fatal(err)
		}
		status, err := json.Marshal(map[string]any{"status": map[string]any{
			"phase": "Succeeded", "startedAt": finished, "finishedAt": finished,
			"outputs": map[string]any{"parameters": []any{map[string]any{"name": controller.OutputResult, "value": string(res)}}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		wf := &wfv1.Workflow{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
		if err := c.Patch(ctx, wf, client.RawPatch(types.MergePatchType, status)); err != nil {
			t.Fatalf("report workflow %s/%s finished: %v", ns, name, err)
		}
	}
	finish(initial, "2026-03-01T12:05:00Z", acceptedVersion, false, pol)
	retrain := &wfv1.Workflow{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-retrain-1772370000", Labels: map[string]string{
			controller.LabelModel: "web", controller.LabelTraining: "scheduled", controller.LabelArgoCronWorkflow: "web-retrain"}},
		Spec: wfv1.WorkflowSpec{Entrypoint: "train", Templates: []wfv1.Template{{Name: "train", Container: &corev1.Container{Image: "trainer"}}}},
	}
	if err := c.Create(ctx, retrain); err != nil {
		t.Fatalf("create the scheduled training in %s: %v", ns, err)
	}
	finish(retrain.Name, "2026-03-01T13:05:00Z", rejectedVersion, true, &policy.Policy{Mode: policy.ModeReactive, Reason: "nothing beat the HPA"})
	return retrain
}

// checkTrainingStatus waits until the instance's status from the trainings
// is the controller's, want: latest and serving version, last training,
// and the serving version's policy without its rules (kro's CEL cannot
// format them as the controller does).
func checkTrainingStatus(t *testing.T, c client.Client, inst *unstructured.Unstructured, want ppav1.ModelStatus) {
	t.Helper()
	if want.LatestVersion != rejectedVersion || want.ServingVersion != acceptedVersion || want.Policy == nil {
		t.Fatalf("the controller's status %+v: not what the trainings say", want)
	}
	wantPolicy := *want.Policy
	wantPolicy.Rules = ""
	expect := map[string]string{
		"latestVersion":        want.LatestVersion,
		"servingVersion":       want.ServingVersion,
		"lastTrainingWorkflow": want.LastTrainingWorkflow,
		"lastTrainingTime":     want.LastTrainingTime.UTC().Format(time.RFC3339),
		"policy.mode":          wantPolicy.Mode,
		"policy.reason":        wantPolicy.Reason,
		"policy.forecaster":    wantPolicy.Forecaster,
		"policy.gapClosed":     wantPolicy.GapClosed,
		"policy.version":       wantPolicy.Version,
	}
	waitFor(t, "the instance's status from the trainings", func() (bool, string) {
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(kroModelGVK)
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(inst), got); err != nil {
			return false, err.Error()
		}
		var diffs []string
		for k, v := range expect {
			g, _, _ := unstructured.NestedString(got.Object, append([]string{"status"}, strings.Split(k, ".")...)...)
			if g != v {
				diffs = append(diffs, fmt.Sprintf("%s %q, want %q", k, g, v))
			}
		}
		slices.Sort(diffs)
		return len(diffs) == 0, strings.Join(diffs, "; ")
	})
}

// ready reports isvc Ready with the predictor component's status (nil:
// none, the raw deployment mode's Service then names the endpoint).
func ready(t *testing.T, c client.Client, isvc *kservev1beta1.InferenceService, predictor map[string]any) {
	t.Helper()
	st := map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": "True",
		"lastTransitionTime": "2026-03-01T12:10:00Z"}}}
	if predictor != nil {
		st["components"] = map[string]any{"predictor": predictor}
	}
	patch, err := json.Marshal(map[string]any{"status": st})
	if err != nil {
		t.Fatal(err)
	}
	obj := &kservev1beta1.InferenceService{ObjectMeta: metav1.ObjectMeta{Namespace: isvc.Namespace, Name: isvc.Name}}
	if err := c.Status().Patch(context.Background(), obj, client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatalf("report InferenceService %s/%s ready: %v", isvc.Namespace, isvc.Name, err)
	}
}
