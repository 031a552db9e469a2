#!/usr/bin/env bash
# The CI metric-regression check: run the smoke suite afresh and compare it with the committed
# baseline in results/smoke (exit 1 on a regression beyond tolerance; see docs/compare.md).
# The tolerances are scripts/smoke_tolerances.yaml, derived from the measured spread of every
# smoke metric across machine configurations and seeds (benchmarks/repro_spread.py; docs/compare.md,
# "Reproducibility, measured"), so another machine of this kind passes and a real regression fails.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
.venv/bin/python -m vaebench run --suite smoke --out "$out/smoke" --quiet
.venv/bin/python -m vaebench compare "$out/smoke" results/smoke --tolerances scripts/smoke_tolerances.yaml \
    --report "$out/compare.md"
