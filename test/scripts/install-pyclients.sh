#!/usr/bin/env bash
# install-pyclients.sh: the real Python Open Inference Protocol clients, from
# PyPI, for test/clients: Triton's tritonclient[http,grpc] and the KServe
# SDK (InferenceRESTClient, InferenceGRPCClient), each in its own virtualenv
# pinned by test/clients/requirements-<name>.txt (every dependency listed).
#
# The virtualenvs land in
#   ${PPA_TEST_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/ppa-test/bin}/pyclients/<name>
# and are rebuilt only when their requirements file changes (a copy is kept
# inside each). Both install side by side; the script fails if either does.
# Idempotent. Cold: about 1-2 minutes (mostly the KServe SDK's download);
# warm: nothing to do.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
reqs=$here/../clients
BIN=${PPA_TEST_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/ppa-test/bin}
PYTHON=${PYTHON:-python3}
START=$(date +%s)

log() { printf '[install-pyclients %3ds] %s\n' "$(($(date +%s) - START))" "$*" >&2; }
die() {
	printf '[install-pyclients] ERROR: %s\n' "$*" >&2
	exit 1
}

command -v "$PYTHON" >/dev/null || die "$PYTHON is not on PATH"
mkdir -p "$BIN/pyclients" || die "cannot create $BIN/pyclients"

# install NAME: make or reuse the virtualenv for requirements-NAME.txt.
install() {
	local name=$1 req=$reqs/requirements-$1.txt venv=$BIN/pyclients/$1
	if [[ -x $venv/bin/python ]] && cmp -s "$req" "$venv/requirements.txt"; then
		log "$name: cached ($venv)"
		return 0
	fi
	log "$name: creating $venv with $("$PYTHON" --version 2>&1)"
	rm -rf "$venv"
	"$PYTHON" -m venv "$venv" || die "$name: python -m venv $venv failed"
	"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$req" ||
		die "$name: pip install -r $req failed"
	# The copy marks the environment complete: written last.
	cp "$req" "$venv/requirements.txt"
	log "$name: installed ($(du -sh "$venv" | cut -f1))"
}

pids=()
for name in triton kserve; do
	install "$name" &
	pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
exit $rc
