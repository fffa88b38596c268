package runtime_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ppa-autoscaler/ppa/host/policy"
	"github.com/ppa-autoscaler/ppa/host/runtime/inferencepb"
)

// TestInferCarriesThePolicy serves three versions: one with a learned
// policy, one trained before policies, one whose policy is corrupt. The
// forecast serves in every case; the policy (or why there is none, naming
// the version) travels with it over REST and gRPC, and /metrics says each
// model's policy mode.
func TestInferCarriesThePolicy(t *testing.T) {
	e := newDirEnv(t)
	pol, err := json.Marshal(policy.Policy{Mode: policy.ModePredictive, Reason: "test", Forecaster: "seasonal-naive",
		Decision: &policy.Decision{Aggregation: "max", Bound: "yhat", ReactiveFloor: true, Anchor: true, AnchorGain: 0.8, AnchorHalfLife: "10m0s", Margin: 3.5, MarginQuantile: 0.75},
		Benefit:  &policy.Benefit{GapClosed: 0.6}})
	if err != nil {
		t.Fatal(err)
	}
	e.modelWithPolicy(seasonalNaivePkg, "learned", "v0001", nil, 100, 50, pol)
	e.modelWithPolicy(seasonalNaivePkg, "old", "v0001", nil, 100, 50, nil)
	e.modelWithPolicy(seasonalNaivePkg, "corrupt", "v0007", nil, 100, 50, json.RawMessage(`{"mode":"predictive","decision":{"aggregation":"sum"}}`))
	s := start(t, e.options("learned", "old", "corrupt"), true)

	for _, tc := range []struct {
		model, wantPolicy, wantErr string
	}{
		{"learned", "anchored ×0.80 half-life 10m0s", ""},
		{"old", "", "version v0001: the manifest holds no scaling policy"},
		{"corrupt", "", "version v0007: policy:"},
	} {
		t.Run(tc.model, func(t *testing.T) {
			// REST: parameters.policy is the object.
			r := s.post("/v2/models/"+tc.model+"/infer", inferBody(600, nil, nil))
			if r.status != 200 {
				t.Fatalf("REST status %d: %s", r.status, r.body)
			}
			var body struct {
				Parameters struct {
					Policy      json.RawMessage `json:"policy"`
					PolicyError string          `json:"policy_error"`
				} `json:"parameters"`
			}
			if err := json.Unmarshal(r.body, &body); err != nil {
				t.Fatal(err)
			}
			check := func(proto string, raw []byte, perr string) {
				t.Helper()
				if tc.wantErr != "" {
					if !strings.Contains(perr, tc.wantErr) || raw != nil {
						t.Errorf("%s: policy %s, error %q; want an error containing %q", proto, raw, perr, tc.wantErr)
					}
					return
				}
				p, err := policy.Parse(raw)
				if err != nil || !strings.Contains(p.Describe(), tc.wantPolicy) {
					t.Errorf("%s: policy %s (%v), want one describing %q", proto, raw, err, tc.wantPolicy)
				}
			}
			check("REST", body.Parameters.Policy, body.Parameters.PolicyError)
			// gRPC: a string parameter holding the JSON.
			resp, err := s.grpc.ModelInfer(context.Background(), &inferencepb.ModelInferRequest{ModelName: tc.model, Inputs: []*inferencepb.ModelInferRequest_InferInputTensor{{
				Name: "horizon", Datatype: "INT64", Shape: []int64{1}, Contents: &inferencepb.InferTensorContents{Int64Contents: []int64{600}},
			}}})
			if err != nil {
				t.Fatal(err)
			}
			var raw []byte
			if p := resp.GetParameters()["policy"]; p != nil {
				raw = []byte(p.GetStringParam())
			}
			check("gRPC", raw, resp.GetParameters()["policy_error"].GetStringParam())
		})
	}
	m := string(s.get("/metrics").body)
	for _, want := range []string{
		`ppa_runtime_model_policy{mode="predictive",model="learned"} 1`,
		`ppa_runtime_model_policy{mode="invalid",model="old"} 1`,
		`ppa_runtime_model_policy{mode="invalid",model="corrupt"} 1`,
		`ppa_runtime_model_policy_benefit{measure="gap_closed",model="learned"} 0.6`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
