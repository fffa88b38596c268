package trainer_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ppa-autoscaler/ppa/host/policy"
	"github.com/ppa-autoscaler/ppa/host/trainer"
	"github.com/ppa-autoscaler/ppa/internal/testwasm"
)

// candidateBuiltins serves the policy search's default candidates built
// from source.
func candidateBuiltins(t *testing.T) func(string) ([]byte, error) {
	wasm := map[string][]byte{
		"seasonal-naive":   seasonalNaive(t),
		"seasonal-profile": testwasm.Build(t, "./plugins/seasonalprofile/wasm"),
		"prophet":          testwasm.Build(t, "./plugins/prophet/wasm"),
	}
	return func(name string) ([]byte, error) {
		if b, ok := wasm[name]; ok {
			return b, nil
		}
		return nil, fmt.Errorf("built-in plugin %q not found", name)
	}
}

// writeWave writes days of one-minute demand with a daily wave and a
// sharp daily step the reactive HPA meets late.
func writeWave(t *testing.T, minutes int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("ds,y\n")
	t0 := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range minutes {
		m := i % 1440
		y := 20 + 180*(0.5-0.5*math.Cos(2*math.Pi*float64(m)/1440))
		if m >= 600 && m < 720 {
			y += 150
		}
		fmt.Fprintf(&b, "%s,%g\n", t0.Add(time.Duration(i)*time.Minute).Format(time.RFC3339), y)
	}
	path := filepath.Join(t.TempDir(), "wave.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRunLearnsAndStoresThePolicy(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		minutes int
		mode    policy.Mode
		reason  string
		plugin  string
	}{
		{"predictive on a regular rise", 10 * 1440, policy.ModePredictive, "closes", "seasonal-profile"},
		// Three hours cannot hold two scored folds: reactive, with the
		// reason, and the model still stored.
		{"reactive on a short history", 180, policy.ModeReactive, "history too short", "seasonal-profile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := localStore(t)
			o := baseOptions(t, s)
			o.CSV = writeWave(t, tc.minutes)
			o.Plugin = ""
			o.Builtin = candidateBuiltins(t)
			o.Scaling = trainer.Scaling{Lead: 5 * time.Minute, TargetValue: 8}
			res, err := trainer.Run(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			if res.Policy == nil || res.Policy.Mode != tc.mode || !strings.Contains(res.Policy.Reason, tc.reason) {
				t.Fatalf("policy %+v, want %s with a reason containing %q", res.Policy, tc.mode, tc.reason)
			}
			if got := res.Manifest.Plugin.Name; got != tc.plugin {
				t.Errorf("stored plugin %s, want %s (the policy's forecaster, or the first candidate)", got, tc.plugin)
			}
			// The manifest read back holds the same, valid policy.
			m, _, err := s.GetModel(ctx, res.Manifest.Model, res.Version)
			if err != nil {
				t.Fatal(err)
			}
			p, err := policy.Parse(m.Policy)
			if err != nil {
				t.Fatalf("stored policy: %v", err)
			}
			if p.Describe() != res.Policy.Describe() {
				t.Errorf("stored policy %q, want %q", p.Describe(), res.Policy.Describe())
			}
			var out strings.Builder
			if err := res.WriteTable(&out); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), "policy") || tc.mode == policy.ModePredictive && !strings.Contains(out.String(), "policy candidates") {
				t.Errorf("table does not show the policy and its candidates:\n%s", out.String())
			}
		})
	}
}
