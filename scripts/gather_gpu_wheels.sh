#!/usr/bin/env bash
# Fills .gpu/ (git-ignored) with what benchmarks/gpu_check.py needs on the GPU machine's image
# beyond what that image holds (torch, lightning, torchmetrics, torchvision, scikit-learn, scipy,
# matplotlib, rich, pyyaml, numpy, attrs, typing-extensions; Python 3.12, x86-64, no network):
#   .gpu/wheels/  jsonschema and its dependencies, for CPython 3.12 manylinux (pip download,
#                 no dependencies beyond those named: the image has the rest)
#   .gpu/data/    Fashion-MNIST's four idx files, xz-compressed (25 MiB instead of gzip's 30)
# and checks that the working tree that travels (tracked and untracked-not-ignored files, plus
# .gpu/) is within the device tool's 64 MiB. W&B is left out: its wheel alone is about 19 MiB,
# which does not fit beside the repository and the data; the check runs with --wandb disabled
# and vaebench's tracking works without wandb installed.
# Then: the device tool's run with carry [".gpu"] and
#   python3 benchmarks/gpu_check.py --budget 540 --out $OUT     (timeout_s 600)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
WHEELS=(jsonschema==4.26.0 jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==2026.9.1)
LIMIT=$((64 * 1024 * 1024))

rm -rf .gpu/wheels && mkdir -p .gpu/wheels .gpu/data
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .gpu/wheels "${WHEELS[@]}" \
    2> >(grep -v "is ignored" >&2)

# Fashion-MNIST from wherever vaebench finds it here (Debian's package, VAEBENCH_DATA, ...)
"$PY" - <<'EOF'
import gzip, lzma, sys
from pathlib import Path
sys.path.insert(0, ".")
from vaebench.data.fashion_mnist import find_files, read_verified

files = find_files()
if files is None:
    sys.exit("gather_gpu_wheels: Fashion-MNIST not found here (apt-get install dataset-fashion-mnist, or VAEBENCH_DATA)")
for stem, path in files.items():
    target = Path(".gpu/data") / f"{stem}.xz"
    if target.is_file():
        with lzma.open(target) as f:
            if f.read() == read_verified(path, stem):
                continue
    target.write_bytes(lzma.compress(read_verified(path, stem), preset=9 | lzma.PRESET_EXTREME))
    print(f"gather_gpu_wheels: {target} ({target.stat().st_size / 2**20:.1f} MiB)")
EOF

tree=$( { git ls-files -z; git ls-files -z --others --exclude-standard; } | xargs -0 -r stat -c %s -- 2>/dev/null | awk '{s += $1} END {print s + 0}')
carried=$(find .gpu -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
total=$((tree + carried))
mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB", b / 1048576}'; }
echo "gather_gpu_wheels: working tree $(mib "$tree") + .gpu $(mib "$carried") (wheels $(mib "$(find .gpu/wheels -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')")) = $(mib "$total") of 64 MiB"
if [ "$total" -gt "$LIMIT" ]; then
  echo "gather_gpu_wheels: over the device tool's 64 MiB: carry less, or commit fewer results" >&2
  exit 1
fi
