#!/usr/bin/env python3
"""Upstream cross-validation reference for host/backtest.

Run through run.sh (``make golden``). For each case this script generates
cutoffs with upstream ``prophet.diagnostics.generate_cutoffs`` on a series
with irregular gaps (tests/data.csv: weekdays only), forecasts each window
with a trivial deterministic forecaster that the Go test re-implements
(yhat = mean of the training y, interval yhat -+ 5), and scores the result
with upstream ``prophet.metrics.performance_metrics`` at several rolling
windows. Prophet's own model is not involved: this pins upstream's cutoff
and metric semantics, not its forecasts.

Writes host/backtest/testdata/upstream_cv.json and copies the series to
host/backtest/testdata/data.csv.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from pathlib import Path

CASES = [
    # horizon 2 days over weekday data: a cutoff on a Friday has no data in
    # (Fri, Sun] and moves to Wednesday (upstream's moved-cutoff rule).
    {"name": "h2d_p1d_i30d", "horizon": "2 days", "period": "1 days", "initial": "30 days"},
    {"name": "h10d_p5d_i90d", "horizon": "10 days", "period": "5 days", "initial": "90 days"},
]
ROLLING_WINDOWS = [0.0, 0.1, 0.5, 1.0]
BAND = 5.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, type=Path, help="shared data/prophet folder")
    ap.add_argument("--out", required=True, type=Path, help="host/backtest/testdata")
    args = ap.parse_args()

    import numpy as np
    import pandas as pd
    import prophet
    from prophet.diagnostics import generate_cutoffs
    from prophet.metrics import performance_metrics

    args.out.mkdir(parents=True, exist_ok=True)
    src = args.data / "tests" / "data.csv"
    shutil.copyfile(src, args.out / "data.csv")
    df = pd.read_csv(args.out / "data.csv", parse_dates=["ds"])

    out = {
        "format": "ppa-backtest-upstream/1",
        "generated_by": "plugins/prophet/golden/cv_golden.py (make golden)",
        "versions": {"prophet": prophet.__version__, "pandas": pd.__version__, "numpy": np.__version__},
        "series": "data.csv",
        "forecaster": f"yhat = mean of the training y (summed in time order); lower/upper = yhat -+ {BAND}",
        "cases": [],
    }
    for case in CASES:
        horizon = pd.Timedelta(case["horizon"])
        cutoffs = generate_cutoffs(df, horizon, pd.Timedelta(case["initial"]), pd.Timedelta(case["period"]))
        frames = []
        for c in cutoffs:
            train = df[df["ds"] <= c]
            mu = 0.0
            for v in train["y"].to_numpy(dtype=float):
                mu += v
            mu /= len(train)
            test = df[(df["ds"] > c) & (df["ds"] <= c + horizon)]
            frames.append(pd.DataFrame({
                "ds": test["ds"].to_numpy(),
                "yhat": mu,
                "yhat_lower": mu - BAND,
                "yhat_upper": mu + BAND,
                "y": test["y"].to_numpy(dtype=float),
                "cutoff": c,
            }))
        cv = pd.concat(frames, axis=0).reset_index(drop=True)
        metrics = {}
        for rw in ROLLING_WINDOWS:
            pm = performance_metrics(cv, rolling_window=rw)
            metrics[str(rw)] = {
                "horizon_seconds": [td.total_seconds() for td in pm["horizon"]],
                **{k: [float(v) for v in pm[k]] for k in pm.columns if k != "horizon"},
            }
        out["cases"].append({
            **case,
            "horizon_seconds": horizon.total_seconds(),
            "period_seconds": pd.Timedelta(case["period"]).total_seconds(),
            "initial_seconds": pd.Timedelta(case["initial"]).total_seconds(),
            "cutoffs": [c.strftime("%Y-%m-%dT%H:%M:%SZ") for c in cutoffs],
            "points": int(len(cv)),
            "performance_metrics": metrics,
        })
    text = json.dumps(out, indent=1, allow_nan=False)
    # One line per list keeps the file short and diffs readable.
    import re
    text = re.sub(r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: "[" + re.sub(r"\s*\n\s*", " ", m.group(1)) + "]", text)
    path = args.out / "upstream_cv.json"
    path.write_text(text + "\n")
    print(f"{path}: {path.stat().st_size} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
