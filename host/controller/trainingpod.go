package controller

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// Defaults of TrainingPod.
const (
	// DefaultTrainingDeadlineSeconds ends a training (all its retries) that
	// runs longer, so that a hung training cannot hold back the
	// CronWorkflow's next runs (its concurrency policy is Forbid).
	DefaultTrainingDeadlineSeconds = int64(3600)
	// DefaultTrainingRetries is how often a failed training pod is retried.
	DefaultTrainingRetries = int32(1)
)

// TrainingPod are the settings of the controller's training Workflows that
// a platform sets once for all Models (the chart's training values): the
// time limit and retries, image pull secrets, security contexts and node
// placement. The controller's flag --training-pod takes it as JSON.
type TrainingPod struct {
	// ActiveDeadlineSeconds is the time limit of one training Workflow,
	// retries included (> 0).
	ActiveDeadlineSeconds int64 `json:"activeDeadlineSeconds"`
	// Retries of a failed training pod (>= 0).
	Retries int32 `json:"retries"`
	// ImagePullSecrets of the training pods, in the Model's namespace.
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`
	// SecurityContext of the training pods.
	SecurityContext *corev1.PodSecurityContext `json:"securityContext,omitempty"`
	// ContainerSecurityContext of the trainer container. With a read-only
	// root file system the trainer still writes its result: /tmp is an
	// emptyDir.
	ContainerSecurityContext *corev1.SecurityContext `json:"containerSecurityContext,omitempty"`
	// NodeSelector, Tolerations and Affinity place the training pods.
	NodeSelector map[string]string   `json:"nodeSelector,omitempty"`
	Tolerations  []corev1.Toleration `json:"tolerations,omitempty"`
	Affinity     *corev1.Affinity    `json:"affinity,omitempty"`
	// PriorityClassName of the training pods.
	PriorityClassName string `json:"priorityClassName,omitempty"`
}

// DefaultTrainingPod is a one-hour limit, one retry and nothing else.
func DefaultTrainingPod() TrainingPod {
	return TrainingPod{ActiveDeadlineSeconds: DefaultTrainingDeadlineSeconds, Retries: DefaultTrainingRetries}
}

// ParseTrainingPod decodes JSON over the defaults; an unknown field is an
// error naming it.
func ParseTrainingPod(s string) (TrainingPod, error) {
	p := DefaultTrainingPod()
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("training pod settings: %w", err)
	}
	return p, p.Validate()
}

// Validate checks the limits.
func (p TrainingPod) Validate() error {
	var errs []error
	if p.ActiveDeadlineSeconds <= 0 {
		errs = append(errs, fmt.Errorf("training pod: activeDeadlineSeconds %d: want > 0 (a hung training would block retraining)", p.ActiveDeadlineSeconds))
	}
	if p.Retries < 0 {
		errs = append(errs, fmt.Errorf("training pod: retries %d: want >= 0", p.Retries))
	}
	return errors.Join(errs...)
}

// String is the settings as JSON (the flag's form).
func (p TrainingPod) String() string {
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return string(b)
}
