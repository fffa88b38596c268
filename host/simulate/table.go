package simulate

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable writes the result for people: the settings, one row per arm,
// the forecast statistics and, for a sweep, the trade-off curves and the
// comparison at equal replica-hours.
func (r *Result) WriteTable(w io.Writer) error {
	b := &strings.Builder{}
	s, t := r.Settings, r.Trace
	fmt.Fprintf(b, "trace       %s to %s, %s steps; scored from %s: %s min known, %s min of gaps\n",
		t.Start.Format(time.RFC3339), t.End.Format(time.RFC3339), dur(t.StepSeconds), t.ScoredFrom.Format(time.RFC3339), num(t.ScoredMinutes), num(t.GapMinutes))
	floor := ""
	if s.ReactiveFloor {
		floor = ", reactive floor"
	}
	if s.Anchor {
		floor += ", anchored to the current demand"
		if s.AnchorHalfLifeSeconds > 0 {
			floor += " (half-life " + dur(s.AnchorHalfLifeSeconds) + ")"
		}
	}
	fc := s.Forecaster
	if fc == "" {
		fc = "forecaster"
	}
	fmt.Fprintf(b, "predictive  %s: %s of %s over the lead%s; trained on %s every %s\n", fc, s.Aggregation, s.Bound, floor, dur(s.TrainSeconds), dur(s.RetrainSeconds))
	maxR := "no max"
	if s.MaxReplicas > 0 {
		maxR = fmt.Sprintf("max %d", s.MaxReplicas)
	}
	fmt.Fprintf(b, "replicas    %s per replica at %s%% target utilisation; lead %s; stabilisation %s; tolerance %s; min %d, %s\n\n",
		num(s.CapacityPerReplica), num(100*s.TargetUtilization), dur(s.LeadSeconds), dur(s.StabilizationSeconds), num(s.Tolerance), s.MinReplicas, maxR)

	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "arm\tunder-provisioned min\tunserved demand\treplica-hours\tover-provisioning\tscale events\tpeak replicas\t")
	for _, a := range []struct {
		name string
		m    ArmMetrics
	}{{"reactive", r.Reactive}, {"predictive", r.Predictive}, {"oracle", r.Oracle}} {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t\n", a.name, num(a.m.UnderprovisionedMinutes), pct(a.m.UnservedDemandShare),
			num(a.m.ReplicaHours), pct(a.m.OverprovisioningShare), a.m.ScaleEvents, a.m.PeakReplicas)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	f := r.Forecast
	fmt.Fprintf(b, "\nforecast    %d trainings (%d skipped); MAE %s; the forecast set the metric %s min, the floor %s min, none %s min\n",
		f.Trainings, f.SkippedTrainings, num(f.MAE), num(f.ForecastMinutes), num(f.FloorMinutes), num(f.UnavailableMinutes))
	anchored := ""
	if s.Anchor {
		anchored = fmt.Sprintf(" (anchored %s min)", num(f.AnchoredMinutes))
	}
	fmt.Fprintf(b, "            MAE at the lead %s%s; persistence (the demand a lead earlier) %s\n", num(f.LeadMAE), anchored, num(f.PersistenceMAE))

	if r.Curves != nil {
		b.WriteString("\ntrade-off: under-provisioned minutes / replica-hours by target utilisation\n")
		tw = tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "utilisation\treactive\tpredictive\toracle\tgap closed\t")
		for i, p := range r.Curves.Reactive {
			gap := "-"
			if e := r.AtEqualReplicaHours; e != nil && i < len(e.ByUtilization) {
				if g := e.ByUtilization[i].GapClosed; g != nil {
					gap = pct(*g)
					if e.ByUtilization[i].ReactiveFit != FitInterpolated {
						gap += "*"
					}
				}
			}
			pr, or := r.Curves.Predictive[i], r.Curves.Oracle[i]
			fmt.Fprintf(tw, "%s\t%s / %s\t%s / %s\t%s / %s\t%s\t\n", num(p.TargetUtilization),
				num(p.UnderprovisionedMinutes), num(p.ReplicaHours), num(pr.UnderprovisionedMinutes), num(pr.ReplicaHours),
				num(or.UnderprovisionedMinutes), num(or.ReplicaHours), gap)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		b.WriteString("(gap closed at equal replica-hours; * = reactive's curve extrapolated)\n")
	}
	if e := r.AtEqualReplicaHours; e != nil {
		ratio := func(v *float64) string {
			if v == nil {
				return "undefined"
			}
			return strconv.FormatFloat(*v, 'f', 3, 64)
		}
		gap := func(v *float64) string {
			if v == nil {
				return "undefined"
			}
			return pct(*v)
		}
		fmt.Fprintf(b, "\nat equal replica-hours, predictive at %s%% target (%s replica-hours):\n", num(100*e.TargetUtilization), num(e.ReplicaHours))
		fmt.Fprintf(b, "  under-provisioned minutes: predictive %s, reactive %s (%s), oracle %s (%s)\n",
			num(e.PredictiveUnderprovisionedMinutes), num(e.ReactiveUnderprovisionedMinutes), e.ReactiveFit, num(e.OracleUnderprovisionedMinutes), e.OracleFit)
		fmt.Fprintf(b, "  underprovisioned_ratio %s (predictive / reactive); gap_closed %s of reactive → oracle\n", ratio(e.UnderprovisionedRatio), gap(e.GapClosed))
		if e.Note != "" {
			fmt.Fprintf(b, "  note: %s\n", e.Note)
		}
		pl := e.Pooled
		us := make([]string, len(pl.Utilizations))
		for i, u := range pl.Utilizations {
			us[i] = num(u)
		}
		fmt.Fprintf(b, "pooled over utilisations %s: under-provisioned minutes predictive %s, reactive %s, oracle %s\n",
			strings.Join(us, ", "), num(pl.PredictiveUnderprovisionedMinutes), num(pl.ReactiveUnderprovisionedMinutes), num(pl.OracleUnderprovisionedMinutes))
		fmt.Fprintf(b, "  underprovisioned_ratio %s; gap_closed %s\n", ratio(pl.UnderprovisionedRatio), gap(pl.GapClosed))
		if pl.Note != "" {
			fmt.Fprintf(b, "  note: %s\n", pl.Note)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// num formats a number with up to 1 decimal, or more for small values.
func num(v float64) string {
	switch {
	case v == float64(int64(v)):
		return strconv.FormatInt(int64(v), 10)
	case v >= 100 || v <= -100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

func pct(v float64) string { return strconv.FormatFloat(100*v, 'f', 1, 64) + "%" }

func dur(seconds float64) string {
	d := time.Duration(seconds * float64(time.Second))
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	switch {
	case d > 0 && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d > 0 && d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}
