package policy

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/plugins/seasonalnaive"
	"github.com/ppa-autoscaler/ppa/plugins/seasonalprofile"
)

// CandidateSpec names a built-in forecaster and the parameters a search
// trains it with.
type CandidateSpec struct {
	Name   string
	Params abi.Params
}

// DefaultCandidates are the built-in forecasters a search tries when the
// user names none, in order of preference on a tie: the short-lead profile,
// seasonal naive (also the baseline of Benefit.Baseline), and Prophet, the
// flagship for long horizons, without its interval simulation (the search
// reads yhat, and the samples would cost most of its time).
var DefaultCandidates = []CandidateSpec{
	{Name: seasonalprofile.Name},
	{Name: seasonalnaive.Name},
	{Name: "prophet", Params: abi.Params{"uncertainty_samples": 0}},
}

// WriteRows prints at most limit rows of a search's candidates table (all
// with limit ≤ 0), best first, marking the chosen one with * and those that
// could not be kept (too little gain, too costly, or a lead error
// significantly worse than persistence's) with x.
func WriteRows(w io.Writer, rows []Row, limit int) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  \tcandidate\tgap closed\tpooled\tunder-prov. ratio\treplica-hours ratio\tlead MAE")
	for i, r := range rows {
		if limit > 0 && i >= limit {
			fmt.Fprintf(tw, "  \t… %d more\t\t\t\t\t\n", len(rows)-i)
			break
		}
		mark := " "
		switch {
		case r.Chosen:
			mark = "*"
		case !r.Eligible:
			mark = "x"
		}
		fmt.Fprintf(tw, "%s \t%s\t%s\t%s\t%s\t%s\t%s\n", mark, r.Label, pct(float64(r.GapClosed)), pct(float64(r.PooledGapClosed)), num(float64(r.UnderprovisionedRatio)), num(float64(r.ReplicaHoursRatio)), num(float64(r.LeadMAE)))
	}
	return tw.Flush()
}

func pct(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.1f %%", 100*v)
}

func num(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.4g", v)
}
