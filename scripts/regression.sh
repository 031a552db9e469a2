#!/usr/bin/env bash
# The CI metric-regression check: run the smoke suite afresh and compare it with the committed
# baseline in results/smoke (exit 1 on a regression beyond tolerance; see docs/compare.md).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
.venv/bin/python -m vaebench run --suite smoke --out "$out/smoke" --quiet
.venv/bin/python -m vaebench compare "$out/smoke" results/smoke --report "$out/compare.md"
