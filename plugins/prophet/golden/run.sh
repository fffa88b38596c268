#!/usr/bin/env bash
# Fits real (upstream, PyPI) Prophet and rewrites the golden fixtures in
# plugins/prophet/testdata/golden (golden.py) and the upstream
# cross-validation reference in host/backtest/testdata (cv_golden.py), or
# runs the Python side of the benchmark (bench.py).
#
#   plugins/prophet/golden/run.sh                      # make golden: both
#   plugins/prophet/golden/run.sh --case data_absmax   # golden.py, one case
#   plugins/prophet/golden/run.sh bench CSV [bench.py options]
#
# The pinned environment (requirements.txt) lives in a venv under
# ${XDG_CACHE_HOME:-$HOME/.cache}/ppa-golden/venv and is rebuilt when
# requirements.txt changes. Input data is read from $PPA_PROPHET_DATA
# (default: the shared/ folder beside the repository, ../shared/data/prophet).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/ppa-golden
venv=$cache/venv
python=${PYTHON:-python3}

if [[ ! -x $venv/bin/python ]] || ! cmp -s "$here/requirements.txt" "$venv/requirements.txt"; then
	echo "run.sh: creating $venv with $("$python" --version 2>&1)" >&2
	rm -rf "$venv"
	mkdir -p "$cache"
	"$python" -m venv "$venv"
	"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
	cp "$here/requirements.txt" "$venv/requirements.txt"
fi

# Keep cmdstanpy's per-fit temporary files inside the cache, not /tmp.
export TMPDIR=${TMPDIR:-$cache/tmp}
mkdir -p "$TMPDIR"

if [[ ${1:-} == bench ]]; then
	shift
	exec "$venv/bin/python" "$here/bench.py" "$@"
fi

data=${PPA_PROPHET_DATA:-$repo/../shared/data/prophet}
if [[ ! -f $data/tests/data.csv ]]; then
	echo "run.sh: no Prophet data in $data (set PPA_PROPHET_DATA to shared/data/prophet)" >&2
	exit 1
fi
"$venv/bin/python" "$here/golden.py" --data "$data" --out "$repo/plugins/prophet/testdata/golden" "$@"
if [[ $# -eq 0 ]]; then
	"$venv/bin/python" "$here/cv_golden.py" --data "$data" --out "$repo/host/backtest/testdata"
fi
