package trainer

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ppa-autoscaler/ppa/host/flagkit"
	"github.com/ppa-autoscaler/ppa/host/policy"
)

// WriteTable writes res for people: one field per line.
func (res *Result) WriteTable(w io.Writer) error {
	m := &res.Manifest
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	verdict := "ACCEPTED"
	if res.Rejected {
		verdict = "REJECTED"
	}
	fmt.Fprintf(tw, "model\t%s\n", res.Model)
	fmt.Fprintf(tw, "version\t%s\n", res.Version)
	fmt.Fprintf(tw, "gate\t%s (%s)\n", verdict, res.Reason)
	fmt.Fprintf(tw, "location\t%s\n", res.Location)
	published := "in the store"
	if res.PluginPublished {
		published = "published by this run"
	}
	fmt.Fprintf(tw, "plugin\t%s %s sha256:%s (%s)\n", m.Plugin.Name, m.Plugin.Version, m.Plugin.SHA256, published)
	d := m.Data
	what := d.Source
	if d.Query != "" {
		what += " " + d.Query
	}
	fmt.Fprintf(tw, "data\t%s\n", what)
	fmt.Fprintf(tw, "window\t%s .. %s every %s: %d points, %d missing\n",
		d.Start.UTC().Format(time.RFC3339), d.End.UTC().Format(time.RFC3339), flagkit.FormatDuration(time.Duration(d.Step)), d.Points, d.Missing)
	if len(m.Parameters) > 0 {
		keys := make([]string, 0, len(m.Parameters))
		for k := range m.Parameters {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s=%v", k, m.Parameters[k])
		}
		fmt.Fprintf(tw, "parameters\t%s\n", strings.Join(parts, " "))
	}
	fmt.Fprintf(tw, "hold-out\t%s\n", flagkit.FormatDuration(time.Duration(res.HoldOut)))
	fmt.Fprintf(tw, "metrics\t%s\n", formatMetrics(res.Metrics))
	fmt.Fprintf(tw, "model size\t%d bytes, sha256:%s\n", m.ModelSize, m.ModelSHA256)
	if p := res.Policy; p != nil {
		fmt.Fprintf(tw, "policy\t%s\n", p.Describe())
		if p.Mode == policy.ModePredictive {
			fmt.Fprintf(tw, "why\t%s\n", p.Reason)
		}
		if b := p.Benefit; b != nil && p.Mode == policy.ModePredictive {
			fmt.Fprintf(tw, "benefit\tgap closed %.1f %% (pooled %.1f %%), under-provisioned %.3g × reactive at %.3g × its replica-hours; lead MAE %.4g vs persistence %.4g\n",
				100*b.GapClosed, 100*b.PooledGapClosed, b.UnderprovisionedRatio, b.ReplicaHoursRatio, b.LeadMAE, b.PersistenceMAE)
		}
		if p.Settings.Assumed != "" {
			fmt.Fprintf(tw, "assumed\t%s\n", p.Settings.Assumed)
		}
	}
	t := res.Timings
	fmt.Fprintf(tw, "timings\tfetch %.2fs, policy %.2fs, backtest %.2fs, fit %.2fs, upload %.2fs, total %.2fs\n",
		t.Fetch, t.Policy, t.Backtest, t.Fit, t.Upload, t.Total)
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(res.Candidates) > 0 {
		fmt.Fprintln(w, "\npolicy candidates (gap closed at equal replica-hours on the history's folds):")
		return policy.WriteRows(w, res.Candidates, 10)
	}
	return nil
}
