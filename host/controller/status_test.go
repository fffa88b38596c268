package controller

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	kservev1beta1 "github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"

	ppav1 "github.com/ppa-autoscaler/ppa/api/v1alpha1"
	"github.com/ppa-autoscaler/ppa/host/policy"
	"github.com/ppa-autoscaler/ppa/host/trainer"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// wf is a training workflow created at t0+created minutes and, when the
// phase is final, finished at t0+finished minutes, with result as its
// OutputResult parameter ("" for none).
func wf(name string, phase wfv1.WorkflowPhase, created, finished int, result string) wfv1.Workflow {
	w := wfv1.Workflow{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(t0.Add(time.Duration(created) * time.Minute))}}
	w.Status.Phase = phase
	if phase.Completed() {
		w.Status.FinishedAt = metav1.NewTime(t0.Add(time.Duration(finished) * time.Minute))
	}
	if result != "" {
		w.Status.Outputs = &wfv1.Outputs{Parameters: []wfv1.Parameter{
			{Name: "other", Value: wfv1.AnyStringPtr("x")},
			{Name: OutputResult, Value: wfv1.AnyStringPtr(result)},
		}}
	}
	return w
}

const (
	accepted1 = `{"model":"shop/checkout","version":"20260301T1100Z-aaaa","rejected":false,"reason":"mase 0.8 <= 1"}`
	accepted2 = `{"model":"shop/checkout","version":"20260301T1200Z-bbbb","rejected":false}`
	rejected3 = `{"model":"shop/checkout","version":"20260301T1300Z-cccc","rejected":true,"reason":"mase 2.1 > 1"}`
)

func TestApplyTrainings(t *testing.T) {
	tests := []struct {
		name        string
		before      ppav1.ModelStatus
		wfs         []wfv1.Workflow
		wantStatus  metav1.ConditionStatus
		wantReason  string
		wantMessage string
		wantServing string
		wantLatest  string
		wantLastWF  string
		wantLastMin int // minutes after t0; -1: no LastTrainingTime
	}{
		{
			name:       "nothing yet",
			wantStatus: metav1.ConditionFalse, wantReason: ppav1.ReasonTrainingPending,
			wantMessage: "no training workflow yet", wantLastMin: -1,
		},
		{
			name:       "first training running",
			wfs:        []wfv1.Workflow{wf("m-train-b", wfv1.WorkflowRunning, 0, 0, ""), wf("m-train-a", wfv1.WorkflowPending, 0, 0, "")},
			wantStatus: metav1.ConditionFalse, wantReason: ppav1.ReasonTrainingPending,
			wantMessage: "waiting for the first training: workflow m-train-a, m-train-b", wantLastMin: -1,
		},
		{
			name:       "first training succeeded",
			wfs:        []wfv1.Workflow{wf("m-train-a", wfv1.WorkflowSucceeded, 0, 5, accepted1)},
			wantStatus: metav1.ConditionTrue, wantReason: ppav1.ReasonTrainingSucceeded,
			wantMessage: "workflow m-train-a stored version 20260301T1100Z-aaaa",
			wantServing: "20260301T1100Z-aaaa", wantLatest: "20260301T1100Z-aaaa", wantLastWF: "m-train-a", wantLastMin: 5,
		},
		{
			name: "newest finished wins, not newest created",
			wfs: []wfv1.Workflow{
				wf("m-retrain-2", wfv1.WorkflowSucceeded, 10, 12, accepted1),
				wf("m-train-a", wfv1.WorkflowSucceeded, 0, 20, accepted2),
			},
			wantStatus: metav1.ConditionTrue, wantReason: ppav1.ReasonTrainingSucceeded,
			wantMessage: "workflow m-train-a stored version 20260301T1200Z-bbbb",
			wantServing: "20260301T1200Z-bbbb", wantLatest: "20260301T1200Z-bbbb", wantLastWF: "m-train-a", wantLastMin: 20,
		},
		{
			name: "gate rejected after an accepted version",
			wfs: []wfv1.Workflow{
				wf("m-train-a", wfv1.WorkflowSucceeded, 0, 5, accepted2),
				wf("m-retrain-1", wfv1.WorkflowSucceeded, 60, 65, rejected3),
				wf("m-retrain-2", wfv1.WorkflowRunning, 120, 0, ""),
			},
			wantStatus: metav1.ConditionTrue, wantReason: ppav1.ReasonGateRejected,
			wantMessage: "workflow m-retrain-1: version 20260301T1300Z-cccc rejected by the quality gate: mase 2.1 > 1",
			wantServing: "20260301T1200Z-bbbb", wantLatest: "20260301T1300Z-cccc", wantLastWF: "m-retrain-1", wantLastMin: 65,
		},
		{
			name:       "gate rejected the first training",
			wfs:        []wfv1.Workflow{wf("m-train-a", wfv1.WorkflowSucceeded, 0, 5, rejected3)},
			wantStatus: metav1.ConditionFalse, wantReason: ppav1.ReasonGateRejected,
			wantMessage: "workflow m-train-a: version 20260301T1300Z-cccc rejected by the quality gate: mase 2.1 > 1",
			wantLatest:  "20260301T1300Z-cccc", wantLastWF: "m-train-a", wantLastMin: 5,
		},
		{
			name: "failed first training",
			wfs: []wfv1.Workflow{func() wfv1.Workflow {
				w := wf("m-train-a", wfv1.WorkflowFailed, 0, 3, "")
				w.Status.Message = "Error (exit code 1)"
				return w
			}()},
			wantStatus: metav1.ConditionFalse, wantReason: ppav1.ReasonTrainingFailed,
			wantMessage: "workflow m-train-a Failed: Error (exit code 1)", wantLastWF: "m-train-a", wantLastMin: 3,
		},
		{
			name:       "failed retraining keeps the served version",
			before:     ppav1.ModelStatus{ServingVersion: "20260301T1100Z-aaaa", LatestVersion: "20260301T1100Z-aaaa"},
			wfs:        []wfv1.Workflow{wf("m-retrain-1", wfv1.WorkflowError, 60, 61, "")},
			wantStatus: metav1.ConditionTrue, wantReason: ppav1.ReasonTrainingFailed,
			wantMessage: "workflow m-retrain-1 Error: no message",
			wantServing: "20260301T1100Z-aaaa", wantLatest: "20260301T1100Z-aaaa", wantLastWF: "m-retrain-1", wantLastMin: 61,
		},
		{
			name:       "served version never goes back when newer workflows are gone",
			before:     ppav1.ModelStatus{ServingVersion: "20260301T1200Z-bbbb"},
			wfs:        []wfv1.Workflow{wf("m-train-a", wfv1.WorkflowSucceeded, 0, 5, accepted1)},
			wantStatus: metav1.ConditionTrue, wantReason: ppav1.ReasonTrainingSucceeded,
			wantMessage: "workflow m-train-a stored version 20260301T1100Z-aaaa",
			wantServing: "20260301T1200Z-bbbb", wantLatest: "20260301T1100Z-aaaa", wantLastWF: "m-train-a", wantLastMin: 5,
		},
		{
			name:       "workflows deleted after a training",
			before:     ppav1.ModelStatus{ServingVersion: "20260301T1200Z-bbbb"},
			wantStatus: metav1.ConditionTrue, wantReason: ppav1.ReasonTrainingSucceeded,
			wantMessage: "version 20260301T1200Z-bbbb was trained",
			wantServing: "20260301T1200Z-bbbb", wantLastMin: -1,
		},
		{
			name:       "unreadable result",
			wfs:        []wfv1.Workflow{wf("m-train-a", wfv1.WorkflowSucceeded, 0, 5, `{"version":`)},
			wantStatus: metav1.ConditionFalse, wantReason: ppav1.ReasonTrainingFailed,
			wantMessage: "workflow m-train-a succeeded but its result is unreadable: output parameter ppa-result: unexpected end of JSON input",
			wantLastWF:  "m-train-a", wantLastMin: 5,
		},
		{
			name:       "result without a version",
			wfs:        []wfv1.Workflow{wf("m-train-a", wfv1.WorkflowSucceeded, 0, 5, `{"rejected":false}`)},
			wantStatus: metav1.ConditionFalse, wantReason: ppav1.ReasonTrainingFailed,
			wantMessage: "workflow m-train-a succeeded but its result is unreadable: output parameter ppa-result: no version",
			wantLastWF:  "m-train-a", wantLastMin: 5,
		},
		{
			name:       "no result",
			wfs:        []wfv1.Workflow{wf("m-train-a", wfv1.WorkflowSucceeded, 0, 5, "")},
			wantStatus: metav1.ConditionFalse, wantReason: ppav1.ReasonTrainingFailed,
			wantMessage: "workflow m-train-a succeeded without the output parameter ppa-result",
			wantLastWF:  "m-train-a", wantLastMin: 5,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.before.DeepCopy()
			c := applyTrainings(st, tc.wfs)
			if c.Type != ppav1.ConditionTrained || c.Status != tc.wantStatus || c.Reason != tc.wantReason || c.Message != tc.wantMessage {
				t.Errorf("condition %s %s %s %q, want Trained %s %s %q", c.Type, c.Status, c.Reason, c.Message, tc.wantStatus, tc.wantReason, tc.wantMessage)
			}
			if st.ServingVersion != tc.wantServing || st.LatestVersion != tc.wantLatest || st.LastTrainingWorkflow != tc.wantLastWF {
				t.Errorf("serving %q latest %q last workflow %q, want %q %q %q", st.ServingVersion, st.LatestVersion, st.LastTrainingWorkflow, tc.wantServing, tc.wantLatest, tc.wantLastWF)
			}
			switch {
			case tc.wantLastMin < 0 && st.LastTrainingTime != nil:
				t.Errorf("last training time %v, want none", st.LastTrainingTime)
			case tc.wantLastMin >= 0 && (st.LastTrainingTime == nil || !st.LastTrainingTime.Time.Equal(t0.Add(time.Duration(tc.wantLastMin)*time.Minute))):
				t.Errorf("last training time %v, want t0+%dm", st.LastTrainingTime, tc.wantLastMin)
			}
		})
	}
}

func mustURL(t *testing.T, s string) *apis.URL {
	t.Helper()
	u, err := apis.ParseURL(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestApplyServing(t *testing.T) {
	isvc := func(ready corev1.ConditionStatus, msg string, comp *kservev1beta1.ComponentStatusSpec) *kservev1beta1.InferenceService {
		i := &kservev1beta1.InferenceService{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "checkout"}}
		if ready != "" {
			i.Status.Conditions = duckv1.Conditions{
				{Type: "PredictorReady", Status: corev1.ConditionTrue},
				{Type: "Ready", Status: ready, Message: msg},
			}
		}
		if comp != nil {
			i.Status.Components = map[kservev1beta1.ComponentType]kservev1beta1.ComponentStatusSpec{kservev1beta1.PredictorComponent: *comp}
		}
		return i
	}
	tests := []struct {
		name         string
		isvc         *kservev1beta1.InferenceService
		wantStatus   metav1.ConditionStatus
		wantReason   string
		wantMessage  string
		wantEndpoint string
	}{
		{
			name: "no conditions yet", isvc: isvc("", "", nil),
			wantStatus: metav1.ConditionFalse, wantReason: ppav1.ReasonInferenceServiceNotReady,
			wantMessage: "the InferenceService has not reported readiness yet",
		},
		{
			name: "not ready", isvc: isvc(corev1.ConditionFalse, "Predictor ingress not created", nil),
			wantStatus: metav1.ConditionFalse, wantReason: ppav1.ReasonInferenceServiceNotReady,
			wantMessage: "Predictor ingress not created",
		},
		{
			name: "not ready, no message", isvc: isvc(corev1.ConditionUnknown, "", nil),
			wantStatus: metav1.ConditionFalse, wantReason: ppav1.ReasonInferenceServiceNotReady,
			wantMessage: "the InferenceService is not ready",
		},
		{
			name: "ready, raw deployment without status URLs", isvc: isvc(corev1.ConditionTrue, "", nil),
			wantStatus: metav1.ConditionTrue, wantReason: ppav1.ReasonInferenceServiceReady,
			wantMessage:  "predictor ready, gRPC at checkout-predictor.shop.svc.cluster.local:8081",
			wantEndpoint: "checkout-predictor.shop.svc.cluster.local:8081",
		},
		{
			name:       "ready, predictor URL",
			isvc:       isvc(corev1.ConditionTrue, "", &kservev1beta1.ComponentStatusSpec{URL: mustURL(t, "http://checkout-predictor.shop.svc.cluster.local")}),
			wantStatus: metav1.ConditionTrue, wantReason: ppav1.ReasonInferenceServiceReady,
			wantMessage:  "predictor ready, gRPC at checkout-predictor.shop.svc.cluster.local:8081",
			wantEndpoint: "checkout-predictor.shop.svc.cluster.local:8081",
		},
		{
			name: "ready, gRPC URL with port",
			isvc: isvc(corev1.ConditionTrue, "", &kservev1beta1.ComponentStatusSpec{
				URL: mustURL(t, "http://checkout-predictor.shop.example.com"), GrpcURL: mustURL(t, "grpc://checkout-predictor-grpc.shop.example.com:9000")}),
			wantStatus: metav1.ConditionTrue, wantReason: ppav1.ReasonInferenceServiceReady,
			wantMessage:  "predictor ready, gRPC at checkout-predictor-grpc.shop.example.com:9000",
			wantEndpoint: "checkout-predictor-grpc.shop.example.com:9000",
		},
		{
			name:       "ready, gRPC URL without port",
			isvc:       isvc(corev1.ConditionTrue, "", &kservev1beta1.ComponentStatusSpec{GrpcURL: mustURL(t, "grpc://checkout.shop.example.com")}),
			wantStatus: metav1.ConditionTrue, wantReason: ppav1.ReasonInferenceServiceReady,
			wantMessage: "predictor ready, gRPC at checkout.shop.example.com:80", wantEndpoint: "checkout.shop.example.com:80",
		},
		{
			name:       "ready, TLS gRPC URL without port",
			isvc:       isvc(corev1.ConditionTrue, "", &kservev1beta1.ComponentStatusSpec{GrpcURL: mustURL(t, "https://checkout.shop.example.com")}),
			wantStatus: metav1.ConditionTrue, wantReason: ppav1.ReasonInferenceServiceReady,
			wantMessage: "predictor ready, gRPC at checkout.shop.example.com:443", wantEndpoint: "checkout.shop.example.com:443",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := &ppav1.ModelStatus{Endpoint: "stale:1"}
			c := applyServing(st, tc.isvc, 8081)
			if c.Type != ppav1.ConditionServing || c.Status != tc.wantStatus || c.Reason != tc.wantReason || c.Message != tc.wantMessage {
				t.Errorf("condition %s %s %s %q, want Serving %s %s %q", c.Type, c.Status, c.Reason, c.Message, tc.wantStatus, tc.wantReason, tc.wantMessage)
			}
			if st.Endpoint != tc.wantEndpoint {
				t.Errorf("endpoint %q, want %q", st.Endpoint, tc.wantEndpoint)
			}
		})
	}
}

func TestReadyCondition(t *testing.T) {
	yes := func(typ string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: metav1.ConditionTrue, Message: typ + " ok"}
	}
	no := func(typ string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: metav1.ConditionFalse, Message: typ + " not ok"}
	}
	st := &ppav1.ModelStatus{ServingVersion: "v1", Endpoint: "h:1"}
	tests := []struct {
		name             string
		trained, serving metav1.Condition
		wantStatus       metav1.ConditionStatus
		wantReason, msg  string
	}{
		{"both", yes(ppav1.ConditionTrained), yes(ppav1.ConditionServing), metav1.ConditionTrue, ppav1.ReasonReady, "serving version v1 at h:1"},
		{"not trained", no(ppav1.ConditionTrained), yes(ppav1.ConditionServing), metav1.ConditionFalse, ppav1.ReasonNotTrained, "Trained not ok"},
		{"not serving", yes(ppav1.ConditionTrained), no(ppav1.ConditionServing), metav1.ConditionFalse, ppav1.ReasonNotServing, "Serving not ok"},
		{"neither: training first", no(ppav1.ConditionTrained), no(ppav1.ConditionServing), metav1.ConditionFalse, ppav1.ReasonNotTrained, "Trained not ok"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := readyCondition(st, tc.trained, tc.serving)
			if c.Type != ppav1.ConditionReady || c.Status != tc.wantStatus || c.Reason != tc.wantReason || c.Message != tc.msg {
				t.Errorf("got %s %s %s %q, want Ready %s %s %q", c.Type, c.Status, c.Reason, c.Message, tc.wantStatus, tc.wantReason, tc.msg)
			}
		})
	}
}

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1.2.0", "1.2.0", 0},
		{"1.10.0", "1.9.0", 1},
		{"1.9.9", "1.10.0", -1},
		{"2.0.0", "10.0.0", -1},
		{"1.0.0-rc.1", "1.0.0", -1},
		{"1.0.0", "1.0.0-rc.1", 1},
		{"1.0.0-rc.1", "1.0.0-rc.2", -1},
	}
	for _, tc := range tests {
		if got := compareVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("compareVersions(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestCheckABI(t *testing.T) {
	tests := []struct {
		v       string
		wantErr string
	}{
		{"1.0.0", ""},
		{"1.0.7", ""},
		{"1.1.0", "plugin ABI version 1.1.0 is newer than this host's 1.0.0"},
		{"2.0.0", "plugin ABI version 2.0.0 is not supported: this host speaks ABI 1.x"},
		{"0.9.0", "plugin ABI version 0.9.0 is not supported"},
		{"1.0", `abi version "1.0": want major.minor.patch`},
		{"1.x.0", `abi version "1.x.0": strconv.ParseUint: parsing "x": invalid syntax`},
		{"70000.0.0", `abi version "70000.0.0": strconv.ParseUint: parsing "70000": value out of range`},
	}
	for _, tc := range tests {
		err := checkABI(tc.v)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("checkABI(%q): %v", tc.v, err)
		case tc.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.wantErr)):
			t.Errorf("checkABI(%q) = %v, want an error starting %q", tc.v, err, tc.wantErr)
		}
	}
}

// TestPolicyStatus: the Model's status carries the serving version's
// learned policy, predictive or reactive with its reason.
func TestPolicyStatus(t *testing.T) {
	const (
		predictive = `{"model":"shop/checkout","version":"20260301T1100Z-aaaa","rejected":false,"policy":{"mode":"predictive","reason":"seasonal-profile max/learned-anchor/floor closes 61.2 %","forecaster":"seasonal-profile",` +
			`"decision":{"aggregation":"max","bound":"yhat","reactive_floor":true,"anchor":true,"anchor_gain":0.8,"anchor_half_life":"10m0s","margin":2.5,"margin_quantile":0.5},"benefit":{"gap_closed":0.612},"settings":{"lead":"5m0s"}}}`
		reactive = `{"model":"shop/checkout","version":"20260301T1200Z-bbbb","rejected":false,"policy":{"mode":"reactive","reason":"history too short for walk-forward scoring","settings":{"lead":"5m0s"}}}`
	)
	for _, tc := range []struct {
		name string
		wfs  []wfv1.Workflow
		want *ppav1.PolicyStatus
	}{
		{"no policy", []wfv1.Workflow{wf("a", wfv1.WorkflowSucceeded, 0, 5, accepted1)}, nil},
		{"predictive", []wfv1.Workflow{wf("a", wfv1.WorkflowSucceeded, 0, 5, predictive)}, &ppav1.PolicyStatus{
			Mode: "predictive", Reason: "seasonal-profile max/learned-anchor/floor closes 61.2 %", Forecaster: "seasonal-profile",
			Rules:     "predictive: seasonal-profile, max of yhat +2.5 (q0.5), anchored ×0.80 half-life 10m0s, reactive floor",
			GapClosed: "61.2%", Version: "20260301T1100Z-aaaa"}},
		{"the serving version's", []wfv1.Workflow{wf("a", wfv1.WorkflowSucceeded, 0, 5, predictive), wf("b", wfv1.WorkflowSucceeded, 10, 15, reactive)}, &ppav1.PolicyStatus{
			Mode: "reactive", Reason: "history too short for walk-forward scoring", Version: "20260301T1200Z-bbbb"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var st ppav1.ModelStatus
			applyTrainings(&st, tc.wfs)
			if got, want := st.Policy, tc.want; (got == nil) != (want == nil) || got != nil && *got != *want {
				t.Errorf("policy status\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestTrainerResultContract decodes the trainer's own result type, as the
// trainer writes it to --result-file, through the controller's reader: a
// renamed or retyped field on either side fails here.
func TestTrainerResultContract(t *testing.T) {
	pol := &policy.Policy{Mode: policy.ModePredictive, Reason: "wins", Forecaster: "seasonal-profile",
		Decision: &policy.Decision{Aggregation: "max", Bound: "yhat", ReactiveFloor: true}, Benefit: &policy.Benefit{GapClosed: 0.5}}
	for _, res := range []trainer.Result{
		{Model: "shop/checkout", Version: "20260301T1100Z-aaaa", Rejected: false, Reason: "accepted", Policy: pol},
		{Model: "shop/checkout", Version: "20260301T1200Z-bbbb", Rejected: true, Reason: "mase 2.1 > 1"},
	} {
		b, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		w := wf("a", wfv1.WorkflowSucceeded, 0, 5, string(b))
		got, err := workflowResult(&w)
		if err != nil || got == nil {
			t.Fatalf("the controller cannot read the trainer's result: %v\n%s", err, b)
		}
		if got.Model != res.Model || got.Version != res.Version || got.Rejected != res.Rejected || got.Reason != res.Reason {
			t.Errorf("read %+v from %s", got, b)
		}
		if (got.Policy == nil) != (res.Policy == nil) || got.Policy != nil && got.Policy.Describe() != res.Policy.Describe() {
			t.Errorf("policy read %+v, written %+v", got.Policy, res.Policy)
		}
	}
}
