#!/usr/bin/env bash
# Sets up vaebench on a fresh machine: the Debian Fashion-MNIST package (where apt exists),
# a virtual environment in .venv, and the package itself.  `--dev` adds the test tools (pytest, ruff, selenium, and torch-fidelity as the independent KID and precision/recall the tests compare against).
#   TORCH_SPEC  overrides the torch/torchvision requirement (default: the versions this
#               project is tested with; any torch >= 2.2 works).
set -euo pipefail
cd "$(dirname "$0")/.."
extras=""
[ "${1:-}" = "--dev" ] && extras="[dev]"

if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null; then
  sudo=""; [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && sudo="sudo"
  if [ "$(id -u)" -eq 0 ] || [ -n "$sudo" ]; then
    echo "setup: installing Debian's dataset-fashion-mnist" >&2
    $sudo apt-get update -qq >/dev/null
    $sudo apt-get install -y -qq dataset-fashion-mnist >/dev/null || echo "setup: dataset-fashion-mnist not installed (torchvision can download the data where there is network)" >&2
  fi
fi

# --dev: tests/test_site.py drives a headless chromium through chromedriver (skipped without them);
# a machine that has a browser and its driver already (GitHub's runners: Chrome) keeps them
has_browser() { { command -v chromium || command -v google-chrome; } >/dev/null && { command -v chromedriver >/dev/null || [ -x "${CHROMEWEBDRIVER:-/nonexistent}/chromedriver" ]; }; }
if [ -n "$extras" ] && ! has_browser && command -v apt-get >/dev/null; then
  sudo=""; [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && sudo="sudo"
  if [ "$(id -u)" -eq 0 ] || [ -n "$sudo" ]; then
    echo "setup: installing Debian's chromium and chromium-driver (browser tests)" >&2
    $sudo apt-get update -qq >/dev/null
    $sudo apt-get install -y -qq chromium chromium-driver >/dev/null || echo "setup: chromium not installed (tests/test_site.py's browser tests will skip)" >&2
  fi
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip 2>/dev/null || true
# shellcheck disable=SC2086
.venv/bin/python -m pip install -q ${TORCH_SPEC:-torch==2.14.1 torchvision==0.29.1} 2> >(grep -v "is ignored" >&2)
.venv/bin/python -m pip install -q -e ".${extras}" 2> >(grep -v "is ignored" >&2)
echo "setup: done ($(.venv/bin/python -c 'import torch, lightning; print("torch", torch.__version__, "lightning", lightning.__version__)'))" >&2
