package decision

import (
	"strings"
	"testing"
)

func TestHPA(t *testing.T) {
	// Target 10 units per replica, 2..20 replicas, 10 % tolerance.
	h := HPA{TargetValue: 10, MinReplicas: 2, MaxReplicas: 20, Tolerance: DefaultTolerance}
	tests := []struct {
		name         string
		metric       float64
		current      int
		wantProposal int
		wantDesired  int
	}{
		{"exact fit keeps", 50, 5, 5, 5},
		{"ratio 1.098 is within tolerance", 54.9, 5, 5, 5},
		// 55/50 - 1 = 0.10000000000000009 in float64, as in the HPA's own
		// arithmetic: the boundary itself scales up.
		{"ratio 1.1 exactly scales up (float64, as the HPA)", 55, 5, 6, 6},
		{"ratio 1.12 scales up", 56, 5, 6, 6},
		{"ratio 0.9 is within tolerance", 45, 5, 5, 5},
		{"ratio 0.88 scales down", 44, 5, 5, 5}, // ceil(4.4) = 5: the proposal equals current anyway
		{"ratio 0.8 scales down", 40, 5, 4, 4},
		{"large jump", 151, 5, 16, 16},
		{"clamped to max", 500, 5, 50, 20},
		{"clamped to min", 1, 5, 1, 2},
		{"zero metric", 0, 5, 0, 2},
		{"zero current", 31, 0, 4, 4},
		{"zero current and metric", 0, 0, 0, 2},
		{"tolerance uses current, not target: 10 replicas at 10.5 units each", 105, 10, 10, 10},
		{"tiny excess above an integer still rounds up", 100.0001, 5, 11, 11},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.Proposal(tt.metric, tt.current); got != tt.wantProposal {
				t.Errorf("Proposal(%g, %d) = %d, want %d", tt.metric, tt.current, got, tt.wantProposal)
			}
			if got := h.Desired(tt.metric, tt.current); got != tt.wantDesired {
				t.Errorf("Desired(%g, %d) = %d, want %d", tt.metric, tt.current, got, tt.wantDesired)
			}
		})
	}
	noTol := HPA{TargetValue: 10, MinReplicas: 1, Tolerance: 0}
	if got := noTol.Desired(51, 5); got != 6 {
		t.Errorf("no tolerance: Desired(51, 5) = %d, want 6", got)
	}
	if got := noTol.Desired(1e6, 5); got != 100000 {
		t.Errorf("no max: Desired(1e6, 5) = %d, want 100000", got)
	}
}

func TestHPAValidate(t *testing.T) {
	good := HPA{TargetValue: 1, MinReplicas: 1, MaxReplicas: 3, Tolerance: 0.1}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*HPA){
		"target value": func(h *HPA) { h.TargetValue = 0 },
		"min replicas": func(h *HPA) { h.MinReplicas = -1 },
		"max replicas": func(h *HPA) { h.MaxReplicas = -1 },
		"below min":    func(h *HPA) { h.MinReplicas, h.MaxReplicas = 4, 3 },
		"tolerance":    func(h *HPA) { h.Tolerance = -0.1 },
	} {
		h := good
		mut(&h)
		if err := h.Validate(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: Validate() = %v", name, err)
		}
	}
}
