package controller

import (
	"slices"
	"strings"
	"testing"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	kservev1beta1 "github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
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
