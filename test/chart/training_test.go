package chart

import (
	"testing"

	"k8s.io/utils/ptr"

	"github.com/ppa-autoscaler/ppa/host/controller"
)

// TestTrainingSettingsReachTheController: the chart's training settings
// (deadline, retries, pull secrets, security contexts, placement) reach the
// controller's own training Workflows through --training-pod, not only the
// ClusterWorkflowTemplate.
func TestTrainingSettingsReachTheController(t *testing.T) {
	for _, tt := range []struct {
		name  string
		ctrl  string
		extra []string
		check func(t *testing.T, p controller.TrainingPod)
	}{
		{"defaults", "ppa-controller", nil, func(t *testing.T, p controller.TrainingPod) {
			if p.ActiveDeadlineSeconds != 3600 || p.Retries != 1 || len(p.ImagePullSecrets) != 0 || len(p.NodeSelector) != 0 {
				t.Errorf("settings %s", p)
			}
		}},
		{"full", "acme-ppa-controller", []string{"-f", fullValues}, func(t *testing.T, p controller.TrainingPod) {
			if p.ActiveDeadlineSeconds != 900 || p.Retries != 0 || p.PriorityClassName != "batch-low" ||
				len(p.ImagePullSecrets) != 1 || p.ImagePullSecrets[0].Name != "regcred" ||
				p.NodeSelector["kubernetes.io/os"] != "linux" {
				t.Errorf("settings %s", p)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctrl := deployment(t, render(t, tt.extra...), tt.ctrl, tt.ctrl+"-metrics").Spec.Template.Spec.Containers[0]
			raw, ok := argValue(ctrl.Args, "training-pod")
			if !ok {
				t.Fatalf("controller has no --training-pod: %v", ctrl.Args)
			}
			p, err := controller.ParseTrainingPod(raw)
			if err != nil {
				t.Fatalf("--training-pod=%s: %v", raw, err)
			}
			// The chart's security contexts, for the read-only root.
			if p.SecurityContext == nil || !ptr.Deref(p.SecurityContext.RunAsNonRoot, false) ||
				p.ContainerSecurityContext == nil || !ptr.Deref(p.ContainerSecurityContext.ReadOnlyRootFilesystem, false) {
				t.Errorf("security contexts %s", p)
			}
			tt.check(t, p)
		})
	}
}
