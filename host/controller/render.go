package controller

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"path"
	"slices"
	"strings"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	kservev1beta1 "github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	kconstants "github.com/kserve/kserve/pkg/constants"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	ppav1 "github.com/ppa-autoscaler/ppa/api/v1alpha1"
)

// Labels on everything the controller creates.
const (
	// LabelModel carries the Model's name, on its children and on the
	// Workflows its CronWorkflow starts; the controller finds a Model's
	// trainings by it.
	LabelModel = "ppa-autoscaler.io/model"
	// LabelServingGroup is on a shared InferenceService and carries its
	// name (see SharedInferenceServiceName).
	LabelServingGroup = "ppa-autoscaler.io/serving-group"
	// LabelTraining is "initial" on the first-training Workflow and
	// "scheduled" on those the CronWorkflow starts.
	LabelTraining = "ppa-autoscaler.io/training"
	// labelManagedBy is the well-known label of the managing tool.
	labelManagedBy = "app.kubernetes.io/managed-by"
	managedBy      = "ppa-controller"

	trainingInitial   = "initial"
	trainingScheduled = "scheduled"
)

// Names of the workflow parts.
const (
	// TemplateTrain is the workflows' only template (the entrypoint).
	TemplateTrain = "train"
	// ContainerTrainer names the training container.
	ContainerTrainer = "trainer"
	// OutputResult is the global output parameter holding the trainer's
	// JSON result (ResultFile).
	OutputResult = "ppa-result"
	// ModelFormat is the model format the PPA runtime declares.
	ModelFormat = "ppa"
	// annotationDeploymentMode is KServe's deployment mode annotation.
	annotationDeploymentMode = "serving.kserve.io/deploymentMode"
	// kserveContainer is the predictor container's name KServe merges
	// with the runtime's.
	kserveContainer = "kserve-container"
	historyLimit    = int32(3)
	// volumeTmp is the training pod's writable /tmp.
	volumeTmp = "tmp"
)

// LabelArgoCronWorkflow is the label Argo puts on each Workflow a
// CronWorkflow starts, naming the CronWorkflow (Argo's
// common.LabelKeyCronWorkflow).
const LabelArgoCronWorkflow = "workflows.argoproj.io/cron-workflow"

// cronWorkflowSuffix ends the name of a Model's CronWorkflow.
const cronWorkflowSuffix = "-retrain"

// CronWorkflowName is the name of m's retraining CronWorkflow.
func CronWorkflowName(m *ppav1.Model) string { return m.Name + cronWorkflowSuffix }

// modelOfCronWorkflow is the Model whose CronWorkflow is named cw, or "".
func modelOfCronWorkflow(cw string) string {
	name, ok := strings.CutSuffix(cw, cronWorkflowSuffix)
	if !ok {
		return ""
	}
	return name
}

// DedicatedInferenceServiceName is the name of the InferenceService of a
// Model in dedicated serving mode: the Model's.
func DedicatedInferenceServiceName(m *ppav1.Model) string { return m.Name }

// SharedInferenceServiceName is the name of the InferenceService that the
// shared-mode Models of a namespace with this runtime, store (URI and
// credentials Secret) and service account share: ppa- and 10 hex digits of
// their SHA-256.
func SharedInferenceServiceName(runtime, storeURI, storeSecret, serviceAccount string) string {
	h := sha256.Sum256([]byte(strings.Join([]string{runtime, storeURI, storeSecret, serviceAccount}, "\x00")))
	return "ppa-" + hex.EncodeToString(h[:])[:10]
}

// InitialWorkflowName is the name of m's first-training Workflow for the
// given trainer arguments: MODEL-train- and 10 hex digits of their
// SHA-256, so that new training inputs make a new first training.
func InitialWorkflowName(m *ppav1.Model, args []string) string {
	h := sha256.Sum256([]byte(strings.Join(args, "\x00")))
	return m.Name + "-train-" + hex.EncodeToString(h[:])[:10]
}

// childLabels are the labels of m's children.
func childLabels(m *ppav1.Model) map[string]string {
	return map[string]string{LabelModel: m.Name, labelManagedBy: managedBy}
}

func withLabel(l map[string]string, k, v string) map[string]string {
	out := maps.Clone(l)
	out[k] = v
	return out
}

// training is the resolved input of m's trainings.
type training struct {
	plugin string
	// pluginSHA256 and pluginURI pin a registered Forecaster's artifact.
	pluginSHA256, pluginURI string
	storeURI                string
	storeSecret             string
}

// workflowSpec is the spec shared by the first-training Workflow and the
// CronWorkflow: one container template running the trainer and exporting
// its result.
func (r *ModelReconciler) workflowSpec(m *ppav1.Model, args []string, t training, kind string) wfv1.WorkflowSpec {
	vols, mounts, env, envFrom := trainerSecrets(m, t.storeSecret)
	// The trainer writes its result file under /tmp: writable even with a
	// read-only root file system.
	vols = append(vols, corev1.Volume{Name: volumeTmp, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	mounts = append(mounts, corev1.VolumeMount{Name: volumeTmp, MountPath: path.Dir(ResultFile)})
	tr := m.Spec.Training
	p := r.Options.TrainingPod
	return wfv1.WorkflowSpec{
		Entrypoint:         TemplateTrain,
		ServiceAccountName: r.trainingServiceAccount(m),
		PodGC:              &wfv1.PodGC{Strategy: wfv1.PodGCOnPodSuccess},
		Volumes:            vols,
		// A hung training ends here, so the CronWorkflow (Forbid) runs
		// the next one.
		ActiveDeadlineSeconds: ptr.To(p.ActiveDeadlineSeconds),
		ImagePullSecrets:      slices.Clone(p.ImagePullSecrets),
		SecurityContext:       p.SecurityContext.DeepCopy(),
		NodeSelector:          maps.Clone(p.NodeSelector),
		Tolerations:           slices.Clone(p.Tolerations),
		Affinity:              p.Affinity.DeepCopy(),
		PodPriorityClassName:  p.PriorityClassName,
		Templates: []wfv1.Template{{
			Name:          TemplateTrain,
			Metadata:      wfv1.Metadata{Labels: withLabel(childLabels(m), LabelTraining, kind)},
			RetryStrategy: &wfv1.RetryStrategy{Limit: ptr.To(intstr.FromInt32(p.Retries)), RetryPolicy: wfv1.RetryPolicyAlways},
			Container: &corev1.Container{
				Name:            ContainerTrainer,
				Image:           r.Options.TrainerImage,
				Command:         []string{r.Options.TrainerCommand},
				Args:            args,
				Env:             env,
				EnvFrom:         envFrom,
				Resources:       *tr.Resources.DeepCopy(),
				VolumeMounts:    mounts,
				SecurityContext: p.ContainerSecurityContext.DeepCopy(),
			},
			Outputs: wfv1.Outputs{Parameters: []wfv1.Parameter{{
				Name:       "result",
				GlobalName: OutputResult,
				ValueFrom:  &wfv1.ValueFrom{Path: ResultFile},
			}}},
		}},
	}
}

// renderCronWorkflow sets the fields of cw that the controller owns.
func (r *ModelReconciler) renderCronWorkflow(cw *wfv1.CronWorkflow, m *ppav1.Model, args []string, t training) {
	cw.Labels = mergeLabels(cw.Labels, childLabels(m))
	tr := m.Spec.Training
	cw.Spec = wfv1.CronWorkflowSpec{
		WorkflowSpec: r.workflowSpec(m, args, t, trainingScheduled),
		// schedule, not schedules: Argo 3.4 and 3.5 know only the former,
		// 3.6 and later read both (schedule is deprecated there, not gone).
		Schedule:                   orDefault(tr.Schedule, ppav1.DefaultSchedule),
		Timezone:                   tr.TimeZone,
		Suspend:                    tr.Suspend,
		ConcurrencyPolicy:          wfv1.ForbidConcurrent,
		SuccessfulJobsHistoryLimit: ptr.To(historyLimit),
		FailedJobsHistoryLimit:     ptr.To(historyLimit),
		WorkflowMetadata: &metav1.ObjectMeta{
			Labels: withLabel(childLabels(m), LabelTraining, trainingScheduled),
		},
	}
}

// predictor is what the controller sets on an InferenceService's
// predictor.
type predictor struct {
	minReplicas    int32
	maxReplicas    *int32
	runtime        string
	serviceAccount string
	resources      corev1.ResourceRequirements
	args           []string
	storeSecret    string
}

// renderInferenceService sets the fields of m's dedicated InferenceService
// that the controller owns, leaving what KServe defaults alone.
func (r *ModelReconciler) renderInferenceService(isvc *kservev1beta1.InferenceService, m *ppav1.Model, t training) {
	s := m.Spec.Serving
	r.renderPredictor(isvc, childLabels(m), predictor{
		minReplicas:    s.MinReplicas,
		maxReplicas:    s.MaxReplicas,
		runtime:        s.Runtime,
		serviceAccount: s.ServiceAccountName,
		resources:      s.Resources,
		args:           RuntimeArgs(t.storeURI, m),
		storeSecret:    t.storeSecret,
	})
}

// renderSharedInferenceService sets the fields of a shared InferenceService
// that the controller owns: its runtime serves every member (sorted by
// name; all of one namespace, store, runtime and service account), with
// the largest of their replica counts and of each resource.
func (r *ModelReconciler) renderSharedInferenceService(isvc *kservev1beta1.InferenceService, members []*ppav1.Model, t training) {
	first := members[0].Spec.Serving
	p := predictor{
		runtime:        first.Runtime,
		serviceAccount: first.ServiceAccountName,
		// Its newest member, not trained yet, must not make the
		// predictor unready for the others.
		args:        append(RuntimeArgs(t.storeURI, members...), "--ready-when-listed"),
		storeSecret: t.storeSecret,
	}
	for _, m := range members {
		s := m.Spec.Serving
		p.minReplicas = max(p.minReplicas, s.MinReplicas)
		if s.MaxReplicas != nil && (p.maxReplicas == nil || *s.MaxReplicas > *p.maxReplicas) {
			p.maxReplicas = s.MaxReplicas
		}
		p.resources.Requests = maxResources(p.resources.Requests, s.Resources.Requests)
		p.resources.Limits = maxResources(p.resources.Limits, s.Resources.Limits)
	}
	r.renderPredictor(isvc, map[string]string{LabelServingGroup: isvc.Name, labelManagedBy: managedBy}, p)
}

// maxResources returns have with each quantity of want that is larger (or
// missing) set.
func maxResources(have, want corev1.ResourceList) corev1.ResourceList {
	for k, q := range want {
		if have == nil {
			have = corev1.ResourceList{}
		}
		if h, ok := have[k]; !ok || q.Cmp(h) > 0 {
			have[k] = q.DeepCopy()
		}
	}
	return have
}

// renderPredictor sets the labels, deployment mode and predictor p of
// isvc, leaving what KServe defaults alone.
func (r *ModelReconciler) renderPredictor(isvc *kservev1beta1.InferenceService, labels map[string]string, p predictor) {
	isvc.Labels = mergeLabels(isvc.Labels, labels)
	if r.Options.DeploymentMode != "" {
		if isvc.Annotations == nil {
			isvc.Annotations = map[string]string{}
		}
		isvc.Annotations[annotationDeploymentMode] = r.Options.DeploymentMode
	}
	ps := &isvc.Spec.Predictor
	ps.MinReplicas = ptr.To(max(p.minReplicas, 1))
	ps.MaxReplicas = 0
	if p.maxReplicas != nil {
		ps.MaxReplicas = *p.maxReplicas
	}
	ps.ServiceAccountName = p.serviceAccount
	if ps.Model == nil {
		ps.Model = &kservev1beta1.ModelSpec{}
	}
	ps.Model.ModelFormat = kservev1beta1.ModelFormat{Name: ModelFormat}
	ps.Model.Runtime = ptr.To(orDefault(p.runtime, ppav1.DefaultRuntime))
	ps.Model.ProtocolVersion = ptr.To(kconstants.ProtocolV2)
	c := &ps.Model.Container
	c.Name = kserveContainer
	c.Args = p.args
	c.Resources = *p.resources.DeepCopy()
	c.EnvFrom = storeEnv(p.storeSecret)
}

// RuntimeArgs are the predictor's arguments to the PPA runtime: serve the
// newest accepted version of each model from the store.
func RuntimeArgs(storeURI string, models ...*ppav1.Model) []string {
	args := []string{"--store", storeURI}
	for _, m := range models {
		args = append(args, "--model", m.Namespace+"/"+m.Name)
	}
	return args
}

// mergeLabels returns have with want's labels set.
func mergeLabels(have, want map[string]string) map[string]string {
	if have == nil {
		have = make(map[string]string, len(want))
	}
	maps.Copy(have, want)
	return have
}
