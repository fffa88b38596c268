#!/usr/bin/env bash
# fuzz.sh: run each fuzz target (PACKAGE:TARGET arguments) for FUZZTIME.
#
# A target that finds a failing input fails the run (go test writes the
# input under the package's testdata/fuzz). One failure is not a finding:
# Go's fuzz coordinator can report "context deadline exceeded" when its own
# -fuzztime deadline passes while a worker is still starting or minimising
# on a loaded machine (seen in CI with nothing found). Such a run is retried
# once; a second one fails.
#
# A package of a nested module (its folder, or one between it and the root,
# holds a go.mod, such as abi/) is fuzzed from that module: `go test` in the
# root module cannot name its packages by directory.
set -euo pipefail
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-10s}
for t in "$@"; do
	pkg=${t%%:*} name=${t##*:}
	mod=$pkg
	while [[ $mod != . && $mod != / && ! -f $mod/go.mod ]]; do mod=$(dirname "$mod"); done
	rel=.
	[[ $mod == "$pkg" ]] || rel=./${pkg#"$mod"/}
	for try in 1 2; do
		echo "fuzz $name ($pkg, $FUZZTIME)"
		if out=$("$GO" -C "$mod" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$rel" 2>&1); then
			grep -v '^fuzz: elapsed' <<<"$out" || true
			break
		fi
		grep -v '^fuzz: elapsed' <<<"$out" || true
		if [[ $try == 1 ]] && grep -q 'context deadline exceeded' <<<"$out" && ! grep -q 'Failing input' <<<"$out"; then
			echo "fuzz $name: the fuzz coordinator ran out of its own time without a finding; running it once more"
			continue
		fi
		exit 1
	done
done
