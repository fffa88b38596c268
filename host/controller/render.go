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

// InferenceServiceName is the name of m's InferenceService.
func InferenceServiceName(m *ppav1.Model) string { return m.Name }

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

// renderInferenceService sets the fields of isvc that the controller owns,
// leaving what KServe defaults alone.
func (r *ModelReconciler) renderInferenceService(isvc *kservev1beta1.InferenceService, m *ppav1.Model, t training) {
	isvc.Labels = mergeLabels(isvc.Labels, childLabels(m))
	if r.Options.DeploymentMode != "" {
		if isvc.Annotations == nil {
			isvc.Annotations = map[string]string{}
		}
		isvc.Annotations[annotationDeploymentMode] = r.Options.DeploymentMode
	}
	s := m.Spec.Serving
	p := &isvc.Spec.Predictor
	p.MinReplicas = ptr.To(max(s.MinReplicas, 1))
	p.MaxReplicas = 0
	if s.MaxReplicas != nil {
		p.MaxReplicas = *s.MaxReplicas
	}
	p.ServiceAccountName = s.ServiceAccountName
	if p.Model == nil {
		p.Model = &kservev1beta1.ModelSpec{}
	}
	p.Model.ModelFormat = kservev1beta1.ModelFormat{Name: ModelFormat}
	p.Model.Runtime = ptr.To(orDefault(s.Runtime, ppav1.DefaultRuntime))
	p.Model.ProtocolVersion = ptr.To(kconstants.ProtocolV2)
	c := &p.Model.Container
	c.Name = kserveContainer
	c.Args = RuntimeArgs(m, t.storeURI)
	c.Resources = *s.Resources.DeepCopy()
	c.EnvFrom = storeEnv(t.storeSecret)
}

// RuntimeArgs are the predictor's arguments to the PPA runtime: serve m's
// newest accepted version from the store.
func RuntimeArgs(m *ppav1.Model, storeURI string) []string {
	return []string{"--store", storeURI, "--model", m.Namespace + "/" + m.Name}
}

// mergeLabels returns have with want's labels set.
func mergeLabels(have, want map[string]string) map[string]string {
	if have == nil {
		have = make(map[string]string, len(want))
	}
	maps.Copy(have, want)
	return have
}
