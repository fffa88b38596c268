package controller

import (
	"slices"
	"strings"
	"testing"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	kservev1beta1 "github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	ppav1 "github.com/ppa-autoscaler/ppa/api/v1alpha1"
)

func testReconciler() *ModelReconciler {
	o := NewOptions()
	o.TrainerImage = "registry.test/trainer:1"
	return &ModelReconciler{Options: o}
}

// TestRenderInferenceService checks that rendering sets what the Model
// says, keeps what KServe or others added, and is idempotent.
func TestRenderInferenceService(t *testing.T) {
	r := testReconciler()
	m := testModel()
	m.Spec.Serving.MaxReplicas = ptr.To[int32](4)
	m.Spec.Serving.ServiceAccountName = "predictor"
	tr := training{plugin: "prophet", storeURI: "s3://models/ppa", storeSecret: "creds"}

	isvc := &kservev1beta1.InferenceService{ObjectMeta: metav1.ObjectMeta{
		Name: "checkout", Namespace: "shop",
		Labels:      map[string]string{"team": "shop"},
		Annotations: map[string]string{"note": "kept"},
	}}
	// What KServe's defaulting might have added earlier.
	isvc.Spec.Predictor.Model = &kservev1beta1.ModelSpec{}
	isvc.Spec.Predictor.Model.Ports = []corev1.ContainerPort{{Name: "h2c", ContainerPort: 8081}}
	isvc.Spec.Predictor.TimeoutSeconds = ptr.To[int64](60)

	r.renderInferenceService(isvc, m, tr)
	p := isvc.Spec.Predictor
	if isvc.Labels["team"] != "shop" || isvc.Labels[LabelModel] != "checkout" || isvc.Annotations["note"] != "kept" ||
		isvc.Annotations["serving.kserve.io/deploymentMode"] != "RawDeployment" {
		t.Errorf("metadata: labels %v annotations %v", isvc.Labels, isvc.Annotations)
	}
	if ptr.Deref(p.MinReplicas, 0) != 1 || p.MaxReplicas != 4 || p.ServiceAccountName != "predictor" || ptr.Deref(p.TimeoutSeconds, 0) != 60 {
		t.Errorf("predictor: min %v max %d sa %q timeout %v", p.MinReplicas, p.MaxReplicas, p.ServiceAccountName, p.TimeoutSeconds)
	}
	mm := p.Model
	if mm.ModelFormat.Name != "ppa" || ptr.Deref(mm.Runtime, "") != "ppa-runtime" || ptr.Deref(mm.ProtocolVersion, "") != "v2" ||
		mm.Name != "kserve-container" || !slices.Equal(mm.Args, []string{"--store", "s3://models/ppa", "--model", "shop/checkout"}) ||
		len(mm.Ports) != 1 || len(mm.EnvFrom) != 1 || mm.EnvFrom[0].SecretRef.Name != "creds" {
		t.Errorf("predictor model: %+v", mm)
	}

	again := isvc.DeepCopy()
	r.renderInferenceService(again, m, tr)
	if !equality.Semantic.DeepEqual(isvc, again) {
		t.Error("rendering twice changed the InferenceService")
	}

	// Removing maxReplicas and the store secret removes them.
	m.Spec.Serving.MaxReplicas = nil
	r.renderInferenceService(isvc, m, training{plugin: "prophet", storeURI: "/data/ppa"})
	if isvc.Spec.Predictor.MaxReplicas != 0 || isvc.Spec.Predictor.Model.EnvFrom != nil ||
		!slices.Equal(isvc.Spec.Predictor.Model.Args, []string{"--store", "/data/ppa", "--model", "shop/checkout"}) {
		t.Errorf("after removing fields: %+v", isvc.Spec.Predictor)
	}

	// Without a deployment mode, KServe's default applies.
	r.Options.DeploymentMode = ""
	fresh := &kservev1beta1.InferenceService{}
	r.renderInferenceService(fresh, m, tr)
	if _, ok := fresh.Annotations["serving.kserve.io/deploymentMode"]; ok {
		t.Errorf("annotations %v: want no deployment mode", fresh.Annotations)
	}
}

func TestRenderCronWorkflow(t *testing.T) {
	r := testReconciler()
	m := testModel()
	m.Spec.Training.ServiceAccountName = "trainer"
	m.Spec.Source.Prometheus.Auth = &ppav1.PrometheusAuth{BasicAuth: &ppav1.BasicAuth{
		Username: corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "prom"}, Key: "user"},
		Password: corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "prom"}, Key: "pass"},
	}}
	tr := training{plugin: "prophet@1.0.0", storeURI: "s3://models/ppa"}
	args := TrainerArgs(m, tr.plugin, tr.storeURI)
	cw := &wfv1.CronWorkflow{}
	r.renderCronWorkflow(cw, m, args, tr)
	s := cw.Spec
	if s.Schedule != "0 * * * *" || len(s.Schedules) != 0 || s.ConcurrencyPolicy != wfv1.ForbidConcurrent ||
		ptr.Deref(s.SuccessfulJobsHistoryLimit, 0) != 3 || ptr.Deref(s.FailedJobsHistoryLimit, 0) != 3 {
		t.Errorf("cron spec: %+v", s)
	}
	w := s.WorkflowSpec
	if w.ServiceAccountName != "trainer" || w.PodGC == nil || w.PodGC.Strategy != wfv1.PodGCOnPodSuccess || len(w.Volumes) != 2 {
		t.Errorf("workflow spec: sa %q podGC %+v volumes %d", w.ServiceAccountName, w.PodGC, len(w.Volumes))
	}
	c := w.Templates[0].Container
	if c.Image != "registry.test/trainer:1" || !slices.Equal(c.Args, args) || len(c.Env) != 1 || c.Env[0].Name != "PPA_PROMETHEUS_USER" ||
		c.Env[0].ValueFrom.SecretKeyRef.Key != "user" || len(c.VolumeMounts) != 2 || c.EnvFrom != nil {
		t.Errorf("trainer container: %+v", c)
	}
	if w.Templates[0].Metadata.Labels[LabelTraining] != trainingScheduled {
		t.Errorf("pod labels %v", w.Templates[0].Metadata.Labels)
	}
}

// TestRenderTrainingPod: the platform's training settings (the chart's
// training values, --training-pod) reach every training Workflow, and a
// deadline is always set so that a hung training cannot block the
// CronWorkflow's next runs forever.
func TestRenderTrainingPod(t *testing.T) {
	m := testModel()
	tr := training{plugin: "prophet", storeURI: "s3://models/ppa"}

	def := testReconciler().workflowSpec(m, nil, tr, trainingInitial)
	if ptr.Deref(def.ActiveDeadlineSeconds, 0) != DefaultTrainingDeadlineSeconds {
		t.Errorf("default deadline %v, want %d", def.ActiveDeadlineSeconds, DefaultTrainingDeadlineSeconds)
	}
	if rs := def.Templates[0].RetryStrategy; rs == nil || rs.Limit == nil || rs.Limit.IntValue() != int(DefaultTrainingRetries) {
		t.Errorf("default retry strategy %+v", rs)
	}

	p, err := ParseTrainingPod(`{"activeDeadlineSeconds": 600, "retries": 3,
		"imagePullSecrets": [{"name": "regcred"}],
		"securityContext": {"runAsNonRoot": true, "runAsUser": 65532},
		"containerSecurityContext": {"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false},
		"nodeSelector": {"pool": "batch"},
		"tolerations": [{"key": "batch", "operator": "Exists", "effect": "NoSchedule"}],
		"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "arch", "operator": "In", "values": ["amd64"]}]}]}}},
		"priorityClassName": "low"}`)
	if err != nil {
		t.Fatal(err)
	}
	r := testReconciler()
	r.Options.TrainingPod = p
	w := r.workflowSpec(m, nil, tr, trainingScheduled)
	c := w.Templates[0].Container
	if ptr.Deref(w.ActiveDeadlineSeconds, 0) != 600 || w.Templates[0].RetryStrategy.Limit.IntValue() != 3 ||
		len(w.ImagePullSecrets) != 1 || w.ImagePullSecrets[0].Name != "regcred" ||
		w.SecurityContext == nil || ptr.Deref(w.SecurityContext.RunAsUser, 0) != 65532 ||
		w.NodeSelector["pool"] != "batch" || len(w.Tolerations) != 1 || w.Affinity == nil || w.PodPriorityClassName != "low" {
		t.Errorf("workflow spec does not carry the settings: %+v", w)
	}
	if c.SecurityContext == nil || !ptr.Deref(c.SecurityContext.ReadOnlyRootFilesystem, false) {
		t.Errorf("container security context %+v", c.SecurityContext)
	}
	if !slices.ContainsFunc(c.VolumeMounts, func(v corev1.VolumeMount) bool { return v.MountPath == "/tmp" }) {
		t.Errorf("no writable /tmp for the result file under a read-only root: %+v", c.VolumeMounts)
	}

	for _, bad := range []struct{ in, want string }{
		{`{"activeDeadlineSeconds": 0}`, "activeDeadlineSeconds 0"},
		{`{"retries": -1}`, "retries -1"},
		{`{"nodeSelektor": {}}`, `unknown field "nodeSelektor"`},
	} {
		if _, err := ParseTrainingPod(bad.in); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("ParseTrainingPod(%s): %v, want %q", bad.in, err, bad.want)
		}
	}
}

// TestRenderSharedInferenceService checks that a shared InferenceService
// serves every member and takes the largest of their replica counts and
// of each resource.
func TestRenderSharedInferenceService(t *testing.T) {
	r := testReconciler()
	a, b := testModel(), testModel()
	a.Name, b.Name = "a", "b"
	a.Spec.Serving.MinReplicas, b.Spec.Serving.MinReplicas = 2, 1
	b.Spec.Serving.MaxReplicas = ptr.To[int32](5)
	a.Spec.Serving.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("1Gi")}
	b.Spec.Serving.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
	tr := training{storeURI: "s3://models/ppa", storeSecret: "creds"}

	isvc := &kservev1beta1.InferenceService{ObjectMeta: metav1.ObjectMeta{Name: "ppa-0123456789", Namespace: "shop"}}
	r.renderSharedInferenceService(isvc, []*ppav1.Model{a, b}, tr)
	p := isvc.Spec.Predictor
	if ptr.Deref(p.MinReplicas, 0) != 2 || p.MaxReplicas != 5 {
		t.Errorf("replicas min %v max %d, want 2 and 5", p.MinReplicas, p.MaxReplicas)
	}
	req := p.Model.Resources.Requests
	if req.Cpu().String() != "1" || req.Memory().String() != "1Gi" {
		t.Errorf("requests %v, want cpu 1 and memory 1Gi", req)
	}
	if want := []string{"--store", "s3://models/ppa", "--model", "shop/a", "--model", "shop/b", "--ready-when-listed"}; !slices.Equal(p.Model.Args, want) {
		t.Errorf("args %q, want %q", p.Model.Args, want)
	}
	if _, ok := isvc.Labels[LabelModel]; ok || isvc.Labels[LabelServingGroup] != "ppa-0123456789" {
		t.Errorf("labels %v: want the serving group, no model", isvc.Labels)
	}
	if len(p.Model.EnvFrom) != 1 || p.Model.EnvFrom[0].SecretRef.Name != "creds" {
		t.Errorf("envFrom %+v, want the store secret", p.Model.EnvFrom)
	}
	again := isvc.DeepCopy()
	r.renderSharedInferenceService(again, []*ppav1.Model{a, b}, tr)
	if !equality.Semantic.DeepEqual(isvc, again) {
		t.Error("rendering twice changed the shared InferenceService")
	}
	if a.Spec.Serving.Resources.Requests.Cpu().String() != "200m" {
		t.Error("rendering changed a member's resources")
	}
}

// TestServingGroup: the default mode shares by store, runtime and service
// account; dedicated does not share.
func TestServingGroup(t *testing.T) {
	r := testReconciler()
	base, _ := r.servingGroup(testModel())
	for _, tt := range []struct {
		name      string
		edit      func(*ppav1.Model)
		wantSame  bool
		wantGroup bool
	}{
		{"other name", func(m *ppav1.Model) { m.Name = "other" }, true, true},
		{"explicit shared", func(m *ppav1.Model) { m.Spec.Serving.Mode = ppav1.ServingShared }, true, true},
		{"other store", func(m *ppav1.Model) { m.Spec.Store.URI = "s3://models/other" }, false, true},
		{"store secret", func(m *ppav1.Model) { m.Spec.Store.CredentialsSecret = &corev1.LocalObjectReference{Name: "s"} }, false, true},
		{"other runtime", func(m *ppav1.Model) { m.Spec.Serving.Runtime = "gpu" }, false, true},
		{"service account", func(m *ppav1.Model) { m.Spec.Serving.ServiceAccountName = "sa" }, false, true},
		{"dedicated", func(m *ppav1.Model) { m.Spec.Serving.Mode = ppav1.ServingDedicated }, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := testModel()
			tt.edit(m)
			g, ok := r.servingGroup(m)
			if ok != tt.wantGroup || (g == base) != tt.wantSame {
				t.Errorf("group %q (%v), base %q: want shared %v, same %v", g, ok, base, tt.wantGroup, tt.wantSame)
			}
			if want := DedicatedInferenceServiceName(m); !ok && r.inferenceServiceName(m) != want {
				t.Errorf("inferenceServiceName %q, want %q", r.inferenceServiceName(m), want)
			}
		})
	}
}
