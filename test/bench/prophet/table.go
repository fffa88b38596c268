package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// writeTable writes rep as aligned text.
func writeTable(w io.Writer, rep *report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "prophet bench: %d rows every %s (%s)\n", rep.Rows, rep.Step, rep.Source)
	fmt.Fprintf(&b, "minimum of %d runs; %s %s, %d CPUs; wasm sha256:%.12s\n", rep.Runs, rep.GoVersion, rep.Platform, rep.CPUs, rep.WasmSHA)
	if rep.LoadStart != nil {
		fmt.Fprintf(&b, "load average (1, 5, 15 min): %s at start", loads(rep.LoadStart))
		if rep.LoadEnd != nil {
			fmt.Fprintf(&b, ", %s at end", loads(rep.LoadEnd))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tnative\twasm\twasm/native\twasm uninterruptible\tuninterr./native\twasm process\tprocess/uninterr.\tidentical\t")
	row := func(name string, s side, identical bool) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", name, secs(s.Native.Min),
			minOf(s.Wasm), times(s.Ratio), minOf(s.WasmUninterruptible), times(s.RatioUninterruptible),
			minOf(s.WasmProcess), times(s.ProcessOverTrusted), yesNo(identical))
	}
	for _, f := range rep.Fit {
		row("fit "+f.Case, f.side, f.Identical)
	}
	if p := rep.Predict; p != nil {
		row(fmt.Sprintf("predict %d × %d", rep.Horizon, rep.Samples), p.side, p.Identical)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	b.WriteString("wasm: in-process with termination checks; uninterruptible: in-process without them (trusted built-ins);\n" +
		"process: a sandboxed worker process without them (uploaded plugins)\n")
	if py := rep.Python; py != nil {
		fmt.Fprintf(&b, "\nPython prophet %s (cmdstanpy %s, Python %s), linear growth, daily + weekly; Python time over Go time:\n",
			py.Versions["prophet"], py.Versions["cmdstanpy"], py.Versions["python"])
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "\tpython\t/native\t/wasm\t/wasm uninterruptible\t")
		prow := func(name string, t timing, r ratios) {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", name, secs(t.Min), times(r.Native), times(r.Wasm), times(r.WasmUninterruptible))
		}
		prow("fit", py.Fit, py.FitRatio)
		prow("predict", py.Predict, py.PredictRatio)
		prow("whole process (vs Go fit + predict)", py.Process, py.ProcessRatio)
		fmt.Fprintf(tw, "of which imports\t%s\t\t\t\t\n", secs(py.Import.Min))
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func loads(l []float64) string {
	parts := make([]string, len(l))
	for i, v := range l {
		parts[i] = fmt.Sprintf("%.1f", v)
	}
	return strings.Join(parts, " ")
}

// secs formats seconds as a duration rounded to three significant digits.
func secs(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond).String()
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}

func minOf(t *timing) string {
	if t == nil {
		return "-"
	}
	return secs(t.Min)
}

func times(r float64) string {
	if r == 0 {
		return "-"
	}
	if r >= 10 {
		return fmt.Sprintf("%.0f×", r)
	}
	return fmt.Sprintf("%.2f×", r)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}
