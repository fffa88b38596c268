#!/usr/bin/env python3
"""Fit upstream Prophet on fixed cases and write golden fixtures.

Run through run.sh (``make golden``), which provides the pinned environment.
For every case in CASES this script

1. reads the source CSV from the shared data folder, selects the training
   rows, applies the case's transformation, sorts by ds, and writes the
   training frame to ``<out>/data/<train_file>`` (columns ds,y; NaN marks a
   missing y). The fit below reads that very file back, so the Go test and
   Python see the same bytes;
2. fits ``Prophet(**config_overrides)`` with ``fit_kwargs`` (cap and floor
   columns are added as constants for logistic growth);
3. seeds numpy with ``predict_seed`` and predicts the future frame
   ``make_future_dataframe(periods, freq, include_history=False)``;
4. predicts the training rows again without uncertainty ("fitted"), and
5. writes ``<out>/<case>.json``; README.md in <out> documents the format.

Nothing here is random apart from the uncertainty simulation, which is seeded.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

FORMAT = "ppa-prophet-golden/1"
# Seeds of upstream's own tests (prophet/tests/test_prophet.py).
FIT_SEED = 1237861298
PREDICT_SEED = 876543987
# At most this many in-sample rows go into "fitted" (every stride-th row).
MAX_FITTED = 1000


@dataclass
class Case:
    """One golden case: what to fit and what to predict."""

    name: str
    description: str
    source: str  # path below the shared data/prophet folder
    train_file: str  # file name below <out>/data
    config: dict[str, Any]  # Prophet(**config), upstream argument names
    periods: int
    freq: str
    head: int | None = None  # training rows: the first `head` rows of source
    transform: str | None = None  # documented transformation of y
    transform_fn: Callable[[Any], Any] | None = None
    cap: float | None = None
    floor: float | None = None
    fit_kwargs: dict[str, Any] = field(default_factory=lambda: {"seed": FIT_SEED})
    # Compare the forecast with the source rows following the training rows
    # (by position, as upstream's tests do) and record the RMSE.
    actual_rows: int = 0


CASES = [
    Case(
        name="peyton_manning",
        description="Daily log page views, all defaults (upstream quick start).",
        source="examples/example_wp_log_peyton_manning.csv",
        train_file="peyton_manning.csv",
        config={},
        periods=365,
        freq="D",
    ),
    Case(
        name="yosemite_temps",
        description="5-minute temperatures with 12 missing values; "
        "changepoint_prior_scale 0.01 as in upstream's sub-daily docs; "
        "300 hourly steps ahead.",
        source="examples/example_yosemite_temps.csv",
        train_file="yosemite_temps.csv",
        config={"changepoint_prior_scale": 0.01},
        periods=300,
        freq="h",
    ),
    Case(
        name="air_passengers_multiplicative",
        description="Monthly air passengers, multiplicative seasonality "
        "(upstream docs, multiplicative seasonality).",
        source="examples/example_air_passengers.csv",
        train_file="air_passengers.csv",
        config={"seasonality_mode": "multiplicative"},
        periods=50,
        freq="MS",
    ),
    Case(
        name="wp_log_R_logistic",
        description="Daily log page views of R, logistic growth with cap 8.5 "
        "(upstream docs, saturating forecasts).",
        source="examples/example_wp_log_R.csv",
        train_file="wp_log_R.csv",
        config={"growth": "logistic"},
        cap=8.5,
        periods=365,
        freq="D",
    ),
    Case(
        name="wp_log_R_logistic_floor",
        description="Upstream docs, saturating minimum: y = 10 - y, logistic "
        "growth with cap 6 and floor 1.5.",
        source="examples/example_wp_log_R.csv",
        train_file="wp_log_R_floor.csv",
        config={"growth": "logistic"},
        transform="y = 10 - y",
        transform_fn=lambda y: 10 - y,
        cap=6.0,
        floor=1.5,
        periods=365,
        freq="D",
    ),
    Case(
        name="data_absmax",
        description="Upstream test_fit_predict[absmax]: first 480 rows of "
        "tests/data.csv, default L-BFGS fit (expected RMSE 10.64 +-10%).",
        source="tests/data.csv",
        train_file="data_head480.csv",
        head=480,
        config={"scaling": "absmax"},
        periods=30,
        freq="D",
        actual_rows=30,
    ),
    Case(
        name="data_minmax",
        description="Upstream test_fit_predict[minmax] (expected RMSE 11.13 +-10%).",
        source="tests/data.csv",
        train_file="data_head480.csv",
        head=480,
        config={"scaling": "minmax"},
        periods=30,
        freq="D",
        actual_rows=30,
    ),
    Case(
        name="data_newton_absmax",
        description="Upstream test_fit_predict_newton[absmax]: Newton forced "
        "(expected RMSE 23.44 +-1%).",
        source="tests/data.csv",
        train_file="data_head480.csv",
        head=480,
        config={"scaling": "absmax"},
        fit_kwargs={"algorithm": "Newton", "seed": FIT_SEED},
        periods=30,
        freq="D",
        actual_rows=30,
    ),
    Case(
        name="data_newton_minmax",
        description="Upstream test_fit_predict_newton[minmax] (expected RMSE 11.29 +-1%).",
        source="tests/data.csv",
        train_file="data_head480.csv",
        head=480,
        config={"scaling": "minmax"},
        fit_kwargs={"algorithm": "Newton", "seed": FIT_SEED},
        periods=30,
        freq="D",
        actual_rows=30,
    ),
    Case(
        name="data2_subdaily",
        description="tests/data2.csv (5-minute steps, 3 days), defaults: "
        "daily seasonality on; one day (288 steps) ahead.",
        source="tests/data2.csv",
        train_file="data2.csv",
        config={},
        periods=288,
        freq="5min",
    ),
    Case(
        name="data3_absmax",
        description="Upstream test_fit_predict_large_numbers[absmax]: first 40 "
        "rows of tests/data3.csv, Newton (T < 100), sig_figs 6 "
        "(expected RMSE 127.01 +-1%).",
        source="tests/data3.csv",
        train_file="data3_head40.csv",
        head=40,
        config={"scaling": "absmax"},
        fit_kwargs={"seed": FIT_SEED, "sig_figs": 6},
        periods=30,
        freq="D",
        actual_rows=30,
    ),
    Case(
        name="data3_minmax",
        description="Upstream test_fit_predict_large_numbers[minmax] "
        "(expected RMSE 93.45 +-1%).",
        source="tests/data3.csv",
        train_file="data3_head40.csv",
        head=40,
        config={"scaling": "minmax"},
        fit_kwargs={"seed": FIT_SEED, "sig_figs": 6},
        periods=30,
        freq="D",
        actual_rows=30,
    ),
]

# Prophet constructor arguments recorded in "config" (effective values).
CONFIG_KEYS = [
    "growth",
    "n_changepoints",
    "changepoint_range",
    "yearly_seasonality",
    "weekly_seasonality",
    "daily_seasonality",
    "seasonality_mode",
    "seasonality_prior_scale",
    "holidays_prior_scale",
    "changepoint_prior_scale",
    "mcmc_samples",
    "interval_width",
    "uncertainty_samples",
    "scaling",
]


class FallbackLog(logging.Handler):
    """Notices prophet's 'Falling back to Newton' warning."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.fell_back = False

    def emit(self, record: logging.LogRecord) -> None:
        if "Falling back to Newton" in record.getMessage():
            self.fell_back = True


def rfc3339(ts) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def floats(values) -> list[float]:
    out = []
    for v in values:
        v = float(v)
        if not math.isfinite(v):
            raise ValueError(f"non-finite value {v} in output")
        out.append(v)
    return out


def dump(obj: Any, indent: int = 0) -> str:
    """JSON with one key per line and every list on a single line."""
    pad = " " * indent
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [
            f'{pad} {json.dumps(k)}: {dump(v, indent + 1)}' for k, v in obj.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list):
        return "[" + ", ".join(dump(v, indent) for v in obj) + "]"
    return json.dumps(obj, allow_nan=False)


def write_training_frame(pd, case: Case, data_dir: Path, out_dir: Path) -> Path:
    src = pd.read_csv(data_dir / case.source)
    src["ds"] = pd.to_datetime(src["ds"])
    if case.head is not None:
        src = src.head(case.head)
    df = src[["ds", "y"]].copy()
    if case.transform_fn is not None:
        df["y"] = case.transform_fn(df["y"])
    df = df.sort_values("ds", kind="stable").reset_index(drop=True)
    path = out_dir / "data" / case.train_file
    all_midnight = bool((df["ds"] == df["ds"].dt.normalize()).all())
    date_format = "%Y-%m-%d" if all_midnight else "%Y-%m-%d %H:%M:%S"
    # pandas writes floats with repr(), which round-trips exactly.
    df.to_csv(path, index=False, date_format=date_format, na_rep="NaN", lineterminator="\n")
    return path


def actual_rows(pd, case: Case, data_dir: Path) -> Any:
    src = pd.read_csv(data_dir / case.source)
    src["ds"] = pd.to_datetime(src["ds"])
    return src.iloc[case.head : case.head + case.actual_rows]


def run_case(case: Case, data_dir: Path, out_dir: Path, versions: dict[str, str]) -> dict[str, Any]:
    import numpy as np
    import pandas as pd
    from prophet import Prophet

    train_path = write_training_frame(pd, case, data_dir, out_dir)
    df = pd.read_csv(train_path, parse_dates=["ds"])
    if case.cap is not None:
        df["cap"] = case.cap
    if case.floor is not None:
        df["floor"] = case.floor

    handler = FallbackLog()
    logging.getLogger("prophet").addHandler(handler)
    try:
        m = Prophet(**case.config)
        m.fit(df, **case.fit_kwargs)
    finally:
        logging.getLogger("prophet").removeHandler(handler)

    future = m.make_future_dataframe(periods=case.periods, freq=case.freq, include_history=False)
    if case.cap is not None:
        future["cap"] = case.cap
    if case.floor is not None:
        future["floor"] = case.floor
    np.random.seed(PREDICT_SEED)
    fc = m.predict(future)

    # In-sample fit without uncertainty (deterministic), every stride-th row.
    hist = m.history
    stride = max(1, math.ceil(len(hist) / MAX_FITTED))
    cols = ["ds"] + [c for c in ("cap", "floor") if c in df.columns]
    sub = hist.iloc[::stride][cols].reset_index(drop=True)
    samples = m.uncertainty_samples
    m.uncertainty_samples = 0
    try:
        fitted = m.predict(sub)
    finally:
        m.uncertainty_samples = samples

    features, prior_scales, component_cols, modes = m.make_all_seasonality_features(hist)
    init = m.calculate_initial_params(len(features.columns))

    def scalar(name: str) -> float:
        return float(np.asarray(m.params[name]).reshape(-1)[0])

    out: dict[str, Any] = {
        "format": FORMAT,
        "case": case.name,
        "description": case.description,
        "generated_by": "plugins/prophet/golden/golden.py (make golden)",
        "versions": versions,
        "input": {
            "source": "shared/data/prophet/" + case.source,
            "source_rows": "all" if case.head is None else f"first {case.head}",
            "transform": case.transform,
            "train_file": "data/" + case.train_file,
            "rows": int(len(df)),
            "rows_used": int(len(hist)),
            "cap": case.cap,
            "floor": case.floor,
        },
        "config": {k: getattr(m, k) for k in CONFIG_KEYS},
        "config_overrides": case.config,
        "fit_kwargs": case.fit_kwargs,
        "predict_seed": PREDICT_SEED,
        "future": {"periods": case.periods, "freq": case.freq, "include_history": False},
        "model": {
            "start": rfc3339(m.start),
            "t_scale_seconds": m.t_scale.total_seconds(),
            "y_scale": float(m.y_scale),
            "y_min": float(m.y_min),
            "logistic_floor": bool(m.logistic_floor),
            "floor": float(hist["floor"].iloc[0]),
            "changepoints": [rfc3339(t) for t in m.changepoints],
            "changepoints_t": floats(m.changepoints_t),
            "seasonalities": {
                name: {
                    "period": float(s["period"]),
                    "fourier_order": int(s["fourier_order"]),
                    "prior_scale": float(s["prior_scale"]),
                    "mode": s["mode"],
                }
                for name, s in m.seasonalities.items()
            },
            "feature_names": [str(c) for c in features.columns],
            "feature_prior_scales": floats(prior_scales),
            "feature_additive": [int(v) for v in component_cols["additive_terms"]],
            "feature_multiplicative": [int(v) for v in component_cols["multiplicative_terms"]],
            "init": {"k": float(init.k), "m": float(init.m)},
            "newton_fallback": handler.fell_back,
        },
        "params": {
            "k": scalar("k"),
            "m": scalar("m"),
            "delta": floats(np.asarray(m.params["delta"]).reshape(-1)),
            "sigma_obs": scalar("sigma_obs"),
            "beta": floats(np.asarray(m.params["beta"]).reshape(-1)),
            "lp__": scalar("lp__") if "lp__" in m.params else None,
        },
        "forecast": {
            "ds": [rfc3339(t) for t in fc["ds"]],
            "yhat": floats(fc["yhat"]),
            "yhat_lower": floats(fc["yhat_lower"]),
            "yhat_upper": floats(fc["yhat_upper"]),
            "trend": floats(fc["trend"]),
        },
        "fitted": {
            "stride": stride,
            "ds": [rfc3339(t) for t in fitted["ds"]],
            "yhat": floats(fitted["yhat"]),
            "trend": floats(fitted["trend"]),
        },
    }
    if case.actual_rows:
        act = actual_rows(pd, case, data_dir)
        y = act["y"].to_numpy(dtype=float)
        rmse = float(np.sqrt(np.mean((fc["yhat"].to_numpy() - y) ** 2)))
        out["actual"] = {
            "note": "source rows after the training rows, compared with forecast by position as upstream's tests do",
            "ds": [rfc3339(t) for t in act["ds"]],
            "y": floats(y),
            "rmse": rmse,
        }
    return out


def bundled_cmdstan(prophet_dir: Path) -> str:
    """The version of the CmdStan that prophet's wheel bundles."""
    found = sorted(p.name for p in (prophet_dir / "stan_model").glob("cmdstan-*"))
    if len(found) != 1:
        raise RuntimeError(f"{prophet_dir / 'stan_model'}: want one cmdstan-* folder, found {found}")
    return found[0].removeprefix("cmdstan-")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, type=Path, help="shared data/prophet folder")
    ap.add_argument("--out", required=True, type=Path, help="fixture folder (testdata/golden)")
    ap.add_argument("--case", action="append", help="only these cases (repeatable)")
    args = ap.parse_args()

    # With a root handler in place cmdstanpy installs none of its own, so
    # its per-fit INFO lines stay off stderr; warnings still show.
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    logging.getLogger("cmdstanpy").setLevel(logging.WARNING)

    import cmdstanpy
    import numpy as np
    import pandas as pd
    import prophet

    versions = {
        "prophet": prophet.__version__,
        "pandas": pd.__version__,
        "numpy": np.__version__,
        "cmdstanpy": cmdstanpy.__version__,
        "cmdstan": bundled_cmdstan(Path(prophet.__file__).parent),
        "python": platform.python_version(),
    }
    (args.out / "data").mkdir(parents=True, exist_ok=True)
    known = {c.name for c in CASES}
    for name in args.case or []:
        if name not in known:
            print(f"golden.py: unknown case {name!r} (known: {', '.join(sorted(known))})", file=sys.stderr)
            return 2
    for case in CASES:
        if args.case and case.name not in args.case:
            continue
        fixture = run_case(case, args.data, args.out, versions)
        path = args.out / f"{case.name}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(dump(fixture) + "\n")
        os.replace(tmp, path)
        extra = f" rmse={fixture['actual']['rmse']:.4f}" if "actual" in fixture else ""
        print(f"{path}: {path.stat().st_size} bytes{extra}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
