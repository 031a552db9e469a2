"""The six scores on the analytic codes of tests/test_disentanglement.py (3,000 / 1,500 points).

    PYTHONPATH=. .venv/bin/python benchmarks/disentanglement_analytic.py

Prints a markdown table for the disentangled, rotated, pure-noise, permuted and redundant codes
(MIG, DCI with the fast estimator, SAP, modularity, explicitness), then the BetaVAE and
FactorVAE scores of the disentangled, rotated and noise representations.
"""

from __future__ import annotations

import warnings

import numpy as np

from tests.test_disentanglement import (
    FactorData,
    NoiseRep,
    code_of_obs,
    disentangled_fn,
    noise_fn,
    rotated,
    rotated_code_of_obs,
    train_test,
)
from vaebench.metrics.disentanglement import (
    beta_vae_score,
    dci,
    factor_vae_score,
    mig,
    modularity_explicitness,
    sap,
)


def redundant_fn(f, seed):
    z = disentangled_fn(f, seed)
    extra = z[:, :1] * 1.5 + 0.01 * np.random.RandomState(seed + 5).randn(len(z), 1)
    return np.concatenate([z, extra], axis=1)


CASES = {
    "disentangled": disentangled_fn,
    "rotated": lambda f, s: rotated(disentangled_fn(f, s)),
    "noise": noise_fn,
    "permuted dims": lambda f, s: disentangled_fn(f, s)[:, [2, 0, 3, 1]],
    "redundant (factor 0 in 2 dims)": redundant_fn,
}


def main() -> int:
    warnings.simplefilter("ignore")
    print("| code | MIG | DCI D | DCI C | DCI I(test) | SAP | modularity | explicitness(test) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, fn in CASES.items():
        ztr, ftr, zte, fte = train_test(fn, 3000, 1500)
        m = mig(ztr, ftr)["mig"]
        d = dci(ztr, ftr, zte, fte, estimator="fast", n_jobs=1)
        s = sap(ztr, ftr, zte, fte)["sap"]
        me = modularity_explicitness(ztr, ftr, zte, fte)
        print(f"| {name} | {m:.3f} | {d['disentanglement']:.3f} | {d['completeness']:.3f} | "
              f"{d['informativeness_test']:.3f} | {s:.3f} | {me['modularity']:.3f} | {me['explicitness_test']:.3f} |")
    ds = FactorData()
    for name, rep in {"disentangled": code_of_obs, "rotated": rotated_code_of_obs, "noise": NoiseRep()}.items():
        b = beta_vae_score(ds, rep, 0, num_train=2000, num_eval=1000)["eval_accuracy"]
        f = factor_vae_score(ds, rep, 0, num_train=2000, num_eval=1000, num_variance_estimate=5000)["eval_accuracy"]
        print(f"{name}: BetaVAE {b:.3f}, FactorVAE {f:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
