"""The lecture's claim, checked on real data: an AE reconstructs better than PCA at equal latent dim.

    .venv/bin/python -m vaebench run --suite latent_dim --models pca,ae --latent-dims 2,4,8,16 \
        --seeds 0 --max-epochs 8 --out runs/ae_vs_pca        # CPU subset: ~10 min a run on 2 cores
    .venv/bin/python benchmarks/ae_vs_pca.py runs/ae_vs_pca

Prints test `mse` of AE and PCA per latent dim (mean over seeds) and exits 1 if the AE is not
below PCA at every latent dim present for both.
"""

from __future__ import annotations

import sys
from pathlib import Path

from vaebench.report.table import build_rows
from vaebench.store import load_records


def main(folder: str) -> int:
    rows = build_rows(load_records(Path(folder)))
    mse = {(r["model"], r["latent_dim"]): r["mse_mean"] for r in rows if "mse_mean" in r}
    dims = sorted({d for (m, d) in mse if m == "ae"} & {d for (m, d) in mse if m == "pca"})
    if not dims:
        print("no latent dim with both an AE and a PCA run", file=sys.stderr)
        return 2
    ok = True
    print("| latent dim | PCA mse | AE mse | AE / PCA |\n|---|---|---|---|")
    for d in dims:
        ratio = mse[("ae", d)] / mse[("pca", d)]
        ok &= ratio < 1
        print(f"| {d} | {mse[('pca', d)]:.5f} | {mse[('ae', d)]:.5f} | {ratio:.3f} |")
    print(f"AE below PCA at every latent dim: {ok}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1] if len(sys.argv) > 1 else "runs/ae_vs_pca"))
