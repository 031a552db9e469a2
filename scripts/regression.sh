#!/usr/bin/env bash
# The CI metric-regression check: run the smoke suite afresh and compare it with the committed
# baseline in results/smoke (exit 1 on a regression beyond tolerance; see docs/compare.md).
# The tolerances are scripts/smoke_tolerances.yaml, derived from the measured spread of every
# smoke metric across machine configurations and seeds (benchmarks/repro_spread.py; docs/compare.md,
# "Reproducibility, measured"), so another machine of this kind passes and a real regression fails.
set -euo pipefail
cd "$(dirname "$0")/.."
# the fresh run and the comparison report stay in a temporary folder (to read after a failure);
# REGRESSION_KEEP=0 deletes it at exit. Either way the script says where it is.
out=$(mktemp -d -t vaebench-regression.XXXXXX)
if [ "${REGRESSION_KEEP:-1}" = "0" ]; then
  trap 'rm -rf "$out"; echo "regression: removed $out" >&2' EXIT
else
  trap 'echo "regression: fresh smoke run in $out/smoke, report $out/compare.md (delete the folder when done; REGRESSION_KEEP=0 removes it)" >&2' EXIT
fi
echo "regression: working in $out" >&2
.venv/bin/python -m vaebench run --suite smoke --out "$out/smoke" --quiet
.venv/bin/python -m vaebench compare "$out/smoke" results/smoke --tolerances scripts/smoke_tolerances.yaml \
    --report "$out/compare.md"
