package policy

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/ppa-autoscaler/ppa/host/engine"
	"github.com/ppa-autoscaler/ppa/host/series"
	"github.com/ppa-autoscaler/ppa/plugins/seasonalnaive"
	"github.com/ppa-autoscaler/ppa/plugins/seasonalprofile"
)

// trace makes days of one-minute demand: a daily wave between lo and hi,
// plus the extra(i) of minute i.
func trace(days int, lo, hi float64, extra func(i int) float64) ([]int64, []float64) {
	n := days * 1440
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	ts, ys := make([]int64, n), make([]float64, n)
	for i := range n {
		ts[i] = t0 + int64(i)*60_000
		phase := float64(i%1440) / 1440
		ys[i] = lo + (hi-lo)*(0.5-0.5*math.Cos(2*math.Pi*phase)) + extra(i)
	}
	return ts, ys
}

func config() Config {
	cfg := DefaultConfig()
	cfg.Lead = 5 * time.Minute
	cfg.CapacityPerReplica, cfg.TargetUtilization = 10, 0.8
	cfg.Candidates = []Candidate{
		{Name: seasonalprofile.Name, Forecaster: engine.Native(seasonalprofile.New())},
		{Name: seasonalnaive.Name, Forecaster: engine.Native(seasonalnaive.New())},
	}
	cfg.Baseline = &cfg.Candidates[1]
	return cfg
}

func TestSearchPicksForesightOnARegularRise(t *testing.T) {
	// Steep daily rises that the reactive HPA always meets late: a shape
	// the profile knows, so the search keeps a predictive policy.
	ts, ys := trace(12, 20, 200, func(i int) float64 {
		if m := i % 1440; m >= 600 && m < 720 {
			return 150 // a sharp step every day at 10:00
		}
		return 0
	})
	res, err := Search(context.Background(), config(), ts, ys)
	if err != nil {
		t.Fatal(err)
	}
	p := res.Policy
	if p.Mode != ModePredictive {
		t.Fatalf("mode %s (%s), want predictive; rows: %+v", p.Mode, p.Reason, res.Rows[:min(4, len(res.Rows))])
	}
	if p.Benefit == nil || !(p.Benefit.GapClosed >= 0.1) || !(p.Benefit.LeadMAE <= p.Benefit.PersistenceMAE) {
		t.Errorf("benefit %+v: want gap ≥ 0.1 and a lead error at most persistence's", p.Benefit)
	}
	if len(res.Model) == 0 || res.Forecaster == nil {
		t.Error("no model trained on the whole history")
	}
	if _, ok, err := p.Options(5 * time.Minute); !ok || err != nil {
		t.Errorf("Options: ok %v, err %v", ok, err)
	}
	if res.Policy.Settings.Folds < 2 {
		t.Errorf("folds %d, want at least 2", res.Policy.Settings.Folds)
	}
}

func TestSearchReactiveWhenNothingToGain(t *testing.T) {
	for _, tc := range []struct {
		name, reason string
		days         int
		extra        func(int) float64
	}{
		// A flat demand: the HPA is never short.
		{"flat", "never short", 10, nil},
		// Two hours of data cannot hold two scored folds.
		{"short", "history too short", 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ts []int64
			var ys []float64
			if tc.days > 0 {
				ts, ys = trace(tc.days, 50, 50, func(int) float64 { return 0 })
			} else {
				ts, ys = trace(1, 20, 200, func(int) float64 { return 0 })
				ts, ys = ts[:120], ys[:120]
			}
			res, err := Search(context.Background(), config(), ts, ys)
			if err != nil {
				t.Fatal(err)
			}
			if res.Policy.Mode != ModeReactive || !strings.Contains(res.Policy.Reason, tc.reason) {
				t.Errorf("policy %s: %q, want reactive with a reason containing %q", res.Policy.Mode, res.Policy.Reason, tc.reason)
			}
			if res.Model != nil {
				t.Error("a reactive policy came with a model")
			}
		})
	}
}

// TestSearchHasNoLookAhead changes the regime after a cut: a sharp daily
// rise starts only on the last day. Every scored fold before the cut, and
// so the policy learned from the history before it, must be identical
// whatever comes after the cut; and a search whose history ends before the
// cut must not see the rise at all.
func TestSearchHasNoLookAhead(t *testing.T) {
	const days = 10
	cut := (days - 1) * 1440
	regime := func(after bool) func(int) float64 {
		return func(i int) float64 {
			if after && i >= cut && i%1440 >= 600 && i%1440 < 700 {
				return 300
			}
			return 0
		}
	}
	tsA, ysA := trace(days, 20, 200, regime(false))
	_, ysB := trace(days, 20, 200, regime(true))
	// Histories that end at the cut are the same bytes: same policy.
	a, err := Search(context.Background(), config(), tsA[:cut], ysA[:cut])
	if err != nil {
		t.Fatal(err)
	}
	b, err := Search(context.Background(), config(), tsA[:cut], ysB[:cut])
	if err != nil {
		t.Fatal(err)
	}
	if a.Policy.Describe() != b.Policy.Describe() {
		t.Fatalf("policies before the cut differ: %q vs %q", a.Policy.Describe(), b.Policy.Describe())
	}
	// Within one search over the whole history, the folds before the cut
	// are scored only with what came before them: replaying the candidate
	// on both traces gives the same margins and anchors for those folds.
	runA := learnedPerFold(t, tsA, ysA)
	runB := learnedPerFold(t, tsA, ysB)
	for k := range runA {
		if runA[k].at >= tsA[cut] {
			break
		}
		if runA[k].fit != runB[k].fit || runA[k].margin != runB[k].margin {
			t.Errorf("fold at %s: learned %+v / margin %g without the rise, %+v / %g with it: the fold saw the future",
				time.UnixMilli(runA[k].at).UTC(), runA[k].fit, runA[k].margin, runB[k].fit, runB[k].margin)
		}
	}
}

type foldLearned struct {
	at     int64
	fit    anchorFit
	margin float64
}

// learnedPerFold runs the seasonal-profile candidate's replay on the trace
// and returns, per fold, the anchoring and the 0.995 margin the search
// learned for it.
func learnedPerFold(t *testing.T, ts []int64, ys []float64) []foldLearned {
	t.Helper()
	cfg := config()
	cfg.Candidates = cfg.Candidates[:1]
	res := []foldLearned{}
	s2, err := newSearcherForTest(cfg, ts, ys)
	if err != nil {
		t.Fatal(err)
	}
	run, err := s2.runCandidate(context.Background(), &cfg.Candidates[0])
	if err != nil {
		t.Fatal(err)
	}
	spans := run.rp.Spans()
	raw := run.rp.Decide(repeat(s2.rules("max", false, anchorFit{}, 0), len(spans)))
	margins := foldMargins(windowErrors(run.rp.Oracle(), raw.Forecast), spans, 0.995)
	for k := 1; k < len(spans); k++ {
		res = append(res, foldLearned{at: spans[k].At.UnixMilli(), fit: run.learned[k], margin: margins[k]})
	}
	return res
}

// newSearcherForTest sets a searcher up as Search does, without searching.
func newSearcherForTest(cfg Config, ts []int64, ys []float64) (*searcher, error) {
	s := &searcher{cfg: cfg, hist: &series.Series{T: ts, Y: ys}}
	step := s.hist.Step()
	span := time.Duration(ts[len(ts)-1]-ts[0])*time.Millisecond + step
	s.fold = min(24*time.Hour, span/6).Truncate(step)
	s.train = (span / 2).Truncate(step)
	return s, s.baselines(context.Background())
}
