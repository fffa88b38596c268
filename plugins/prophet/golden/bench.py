#!/usr/bin/env python3
"""Time upstream Prophet end to end, for the Go-vs-Python benchmark.

    plugins/prophet/golden/run.sh bench SERIES.csv [--horizon 60] [--samples 1000] [--repeat 1]

SERIES.csv has the columns ds,y; the comparison uses 14 days of 1-minute
data (20,160 rows). The model is Prophet(daily_seasonality=True,
weekly_seasonality=True, yearly_seasonality=False, uncertainty_samples=
--samples): weekly is forced on because 14 days of minutes span 1 minute
less than the 14 days that auto-detection asks for. The forecast is
--horizon steps on the series' own step after the last row.

Prints one JSON object on stdout; times are wall-clock seconds:
  import_s   importing pandas, numpy and prophet (once per process)
  read_s     reading the CSV
  fit_s      Prophet(...).fit(df), each repeat a fresh model
  predict_s  make_future_dataframe + predict with intervals
  total_s    from the start of this script to the end (includes import_s
             and every repeat; the interpreter's own start-up is not
             included: time the process from outside for that)
fit_s and predict_s are lists, one entry per --repeat.
"""

from __future__ import annotations

import time

_START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv", help="series with columns ds,y")
    ap.add_argument("--horizon", type=int, default=60, help="forecast steps (default 60)")
    ap.add_argument("--samples", type=int, default=1000, help="uncertainty samples (default 1000)")
    ap.add_argument("--repeat", type=int, default=1, help="fit+predict repetitions (default 1)")
    ap.add_argument("--seed", type=int, default=876543987, help="numpy seed before each predict")
    args = ap.parse_args()
    if args.horizon < 1 or args.samples < 0 or args.repeat < 1:
        ap.error("--horizon and --repeat must be positive, --samples not negative")

    # With a root handler in place cmdstanpy installs none of its own, so
    # its per-fit INFO lines stay off stderr; warnings still show.
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    logging.getLogger("cmdstanpy").setLevel(logging.WARNING)

    t = time.perf_counter()
    import cmdstanpy
    import numpy as np
    import pandas as pd
    import prophet
    from prophet import Prophet

    import_s = time.perf_counter() - t

    t = time.perf_counter()
    df = pd.read_csv(args.csv, parse_dates=["ds"])
    read_s = time.perf_counter() - t
    if len(df) < 2:
        print(f"bench.py: {args.csv}: need at least 2 rows, have {len(df)}", file=sys.stderr)
        return 1
    step = (df["ds"].diff().dropna()).mode().iloc[0]

    fit_s, predict_s = [], []
    last_yhat = None
    for _ in range(args.repeat):
        t = time.perf_counter()
        m = Prophet(
            daily_seasonality=True,
            weekly_seasonality=True,
            yearly_seasonality=False,
            uncertainty_samples=args.samples,
        )
        m.fit(df)
        fit_s.append(time.perf_counter() - t)

        t = time.perf_counter()
        future = m.make_future_dataframe(periods=args.horizon, freq=step, include_history=False)
        np.random.seed(args.seed)
        fc = m.predict(future)
        predict_s.append(time.perf_counter() - t)
        last_yhat = float(fc["yhat"].iloc[-1])

    print(
        json.dumps(
            {
                "rows": int(len(df)),
                "step_seconds": step.total_seconds(),
                "horizon": args.horizon,
                "uncertainty_samples": args.samples,
                "repeat": args.repeat,
                "import_s": import_s,
                "read_s": read_s,
                "fit_s": fit_s,
                "predict_s": predict_s,
                "total_s": time.perf_counter() - _START,
                "last_yhat": last_yhat,
                "versions": {
                    "prophet": prophet.__version__,
                    "pandas": pd.__version__,
                    "numpy": np.__version__,
                    "cmdstanpy": cmdstanpy.__version__,
                    "python": platform.python_version(),
                },
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
