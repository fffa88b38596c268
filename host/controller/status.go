package controller

import (
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	kservev1beta1 "github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ppav1 "github.com/ppa-autoscaler/ppa/api/v1alpha1"
	"github.com/ppa-autoscaler/ppa/host/policy"
)

// trainerResult is the part of the trainer's JSON result (host/trainer's
// Result) that the controller reads.
type trainerResult struct {
	Model    string `json:"model"`
	Version  string `json:"version"`
	Rejected bool   `json:"rejected"`
	Reason   string `json:"reason"`
	// Policy is the learned scaling policy (host/policy.Policy), when the
	// trainer ran the search.
	Policy *policy.Policy `json:"policy,omitempty"`
}

// policyStatus summarises a trainer's policy for the Model's status.
func policyStatus(r *trainerResult) *ppav1.PolicyStatus {
	p := r.Policy
	if p == nil {
		return nil
	}
	ps := &ppav1.PolicyStatus{Mode: string(p.Mode), Reason: p.Reason, Version: r.Version}
	if p.Mode == policy.ModePredictive {
		ps.Forecaster, ps.Rules = p.Forecaster, p.Describe()
		if b := p.Benefit; b != nil {
			ps.GapClosed = fmt.Sprintf("%.1f%%", 100*b.GapClosed)
		}
	}
	return ps
}

// workflowResult reads the trainer's result from wf's global output
// parameter OutputResult; nil without one.
func workflowResult(wf *wfv1.Workflow) (*trainerResult, error) {
	if wf.Status.Outputs == nil {
		return nil, nil
	}
	for _, p := range wf.Status.Outputs.Parameters {
		if p.Name != OutputResult || p.Value == nil {
			continue
		}
		var r trainerResult
		if err := json.Unmarshal([]byte(p.Value.String()), &r); err != nil {
			return nil, fmt.Errorf("output parameter %s: %w", OutputResult, err)
		}
		if r.Version == "" {
			return nil, fmt.Errorf("output parameter %s: no version", OutputResult)
		}
		return &r, nil
	}
	return nil, nil
}

// finishedAt is when wf completed, its creation for a workflow that never
// recorded it.
func finishedAt(wf *wfv1.Workflow) time.Time {
	if !wf.Status.FinishedAt.IsZero() {
		return wf.Status.FinishedAt.Time
	}
	return wf.CreationTimestamp.Time
}

// applyTrainings updates st from a Model's training workflows (the first
// training and the scheduled ones, in any order) and returns the Trained
// condition (without its transition time).
//
// ServingVersion is the greatest accepted version seen (versions sort by
// time), so that it never goes back when old workflows are deleted; the
// newest completed workflow sets LatestVersion, LastTrainingTime and the
// condition's reason.
func applyTrainings(st *ppav1.ModelStatus, wfs []wfv1.Workflow) metav1.Condition {
	var done, running []*wfv1.Workflow
	for i := range wfs {
		wf := &wfs[i]
		if wf.Status.Phase.Completed() {
			done = append(done, wf)
		} else {
			running = append(running, wf)
		}
	}
	slices.SortStableFunc(done, func(a, b *wfv1.Workflow) int {
		if c := finishedAt(a).Compare(finishedAt(b)); c != 0 {
			return c
		}
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	for _, wf := range done {
		if wf.Status.Phase != wfv1.WorkflowSucceeded {
			continue
		}
		if r, err := workflowResult(wf); err == nil && r != nil && !r.Rejected && r.Version >= st.ServingVersion {
			st.ServingVersion = r.Version
			// The policy the scaler applies is the serving version's.
			st.Policy = policyStatus(r)
		}
	}
	trained := metav1.ConditionFalse
	if st.ServingVersion != "" {
		trained = metav1.ConditionTrue
	}
	cond := func(reason, format string, args ...any) metav1.Condition {
		return metav1.Condition{Type: ppav1.ConditionTrained, Status: trained, Reason: reason, Message: fmt.Sprintf(format, args...)}
	}

	if len(done) == 0 {
		if st.ServingVersion != "" {
			return cond(ppav1.ReasonTrainingSucceeded, "version %s was trained", st.ServingVersion)
		}
		if len(running) == 0 {
			return cond(ppav1.ReasonTrainingPending, "no training workflow yet")
		}
		names := make([]string, len(running))
		for i, wf := range running {
			names[i] = wf.Name
		}
		slices.Sort(names)
		return cond(ppav1.ReasonTrainingPending, "waiting for the first training: workflow %s", strings.Join(names, ", "))
	}

	last := done[len(done)-1]
	st.LastTrainingWorkflow = last.Name
	st.LastTrainingTime = &metav1.Time{Time: finishedAt(last)}
	if last.Status.Phase != wfv1.WorkflowSucceeded {
		msg := last.Status.Message
		if msg == "" {
			msg = "no message"
		}
		return cond(ppav1.ReasonTrainingFailed, "workflow %s %s: %s", last.Name, last.Status.Phase, msg)
	}
	r, err := workflowResult(last)
	switch {
	case err != nil:
		return cond(ppav1.ReasonTrainingFailed, "workflow %s succeeded but its result is unreadable: %v", last.Name, err)
	case r == nil:
		return cond(ppav1.ReasonTrainingFailed, "workflow %s succeeded without the output parameter %s", last.Name, OutputResult)
	}
	st.LatestVersion = r.Version
	if r.Rejected {
		return cond(ppav1.ReasonGateRejected, "workflow %s: version %s rejected by the quality gate: %s", last.Name, r.Version, r.Reason)
	}
	return cond(ppav1.ReasonTrainingSucceeded, "workflow %s stored version %s", last.Name, r.Version)
}

// isvcReady returns the InferenceService's Ready condition, nil when it
// has none yet.
func isvcReady(isvc *kservev1beta1.InferenceService) (ready bool, message string, found bool) {
	for _, c := range isvc.Status.Conditions {
		if string(c.Type) == "Ready" {
			return c.Status == corev1.ConditionTrue, c.Message, true
		}
	}
	return false, "", false
}

// applyServing updates st.Endpoint from the InferenceService and returns
// the Serving condition (without its transition time).
func applyServing(st *ppav1.ModelStatus, isvc *kservev1beta1.InferenceService, grpcPort int32) metav1.Condition {
	ready, msg, found := isvcReady(isvc)
	if !ready {
		st.Endpoint = ""
		if !found {
			msg = "the InferenceService has not reported readiness yet"
		} else if msg == "" {
			msg = "the InferenceService is not ready"
		}
		return metav1.Condition{Type: ppav1.ConditionServing, Status: metav1.ConditionFalse,
			Reason: ppav1.ReasonInferenceServiceNotReady, Message: msg}
	}
	st.Endpoint = grpcEndpoint(isvc, grpcPort)
	return metav1.Condition{Type: ppav1.ConditionServing, Status: metav1.ConditionTrue,
		Reason: ppav1.ReasonInferenceServiceReady, Message: "predictor ready, gRPC at " + st.Endpoint}
}

// grpcEndpoint is the predictor's gRPC host:port: the predictor's gRPC URL
// when KServe reports one (serverless mode), else the host of the
// predictor's URL, else the predictor Service KServe's raw deployment mode
// creates (NAME-predictor), with grpcPort.
func grpcEndpoint(isvc *kservev1beta1.InferenceService, grpcPort int32) string {
	port := fmt.Sprint(grpcPort)
	if c, ok := isvc.Status.Components[kservev1beta1.PredictorComponent]; ok {
		if c.GrpcURL != nil && c.GrpcURL.URL().Hostname() != "" {
			u := c.GrpcURL.URL()
			p := u.Port()
			if p == "" {
				p = "80"
				if u.Scheme == "https" || u.Scheme == "grpcs" {
					p = "443"
				}
			}
			return net.JoinHostPort(u.Hostname(), p)
		}
		if c.URL != nil && c.URL.URL().Hostname() != "" {
			return net.JoinHostPort(c.URL.URL().Hostname(), port)
		}
	}
	return net.JoinHostPort(isvc.Name+"-predictor."+isvc.Namespace+".svc.cluster.local", port)
}

// readyCondition is the Ready condition that follows from Trained and
// Serving.
func readyCondition(st *ppav1.ModelStatus, trained, serving metav1.Condition) metav1.Condition {
	c := metav1.Condition{Type: ppav1.ConditionReady, Status: metav1.ConditionFalse}
	switch {
	case trained.Status != metav1.ConditionTrue:
		c.Reason, c.Message = ppav1.ReasonNotTrained, trained.Message
	case serving.Status != metav1.ConditionTrue:
		c.Reason, c.Message = ppav1.ReasonNotServing, serving.Message
	default:
		c.Status, c.Reason = metav1.ConditionTrue, ppav1.ReasonReady
		c.Message = fmt.Sprintf("serving version %s at %s", st.ServingVersion, st.Endpoint)
	}
	return c
}
