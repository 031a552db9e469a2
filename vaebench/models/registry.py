"""Model names → classes and their hyper-parameters."""

from __future__ import annotations

from typing import Any

from vaebench.errors import UserError
from vaebench.specs import ModelSpec

# name -> (class path, default hyper-parameters; only these keys may be set in a suite)
MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "pca": ("vaebench.models.pca:PCAModel", {}),
    "ae": ("vaebench.models.ae:AE", {}),
    "vae": ("vaebench.models.vae:VAE", {"beta": 1.0, "likelihood": "bernoulli"}),
    "beta_vae": ("vaebench.models.vae:VAE", {"beta": 4.0, "likelihood": "bernoulli"}),
    "cvae": ("vaebench.models.cvae:CVAE", {"likelihood": "bernoulli"}),
    "linear_vae": ("vaebench.models.linear_vae:LinearVAE", {}),
    "annealed_vae": ("vaebench.models.annealed_vae:AnnealedVAE",
                     {"gamma": 1000.0, "c_max": 25.0, "anneal_steps": 100000, "likelihood": "bernoulli"}),
    "beta_tcvae": ("vaebench.models.beta_tcvae:BetaTCVAE", {"beta": 6.0, "likelihood": "bernoulli"}),
    "factor_vae": ("vaebench.models.factor_vae:FactorVAE", {"gamma": 40.0, "likelihood": "bernoulli"}),
    "dip_vae_i": ("vaebench.models.dip_vae:DIPVAEI", {"lambda_od": 10.0, "lambda_d_factor": 10.0, "likelihood": "bernoulli"}),
    "dip_vae_ii": ("vaebench.models.dip_vae:DIPVAEII", {"lambda_od": 10.0, "lambda_d_factor": 1.0, "likelihood": "bernoulli"}),
    "iwae": ("vaebench.models.iwae:IWAE", {"k": 5, "likelihood": "bernoulli"}),
    "vamp_vae": ("vaebench.models.vamp_vae:VampVAE", {"components": 500, "likelihood": "bernoulli"}),
    "wae_mmd": ("vaebench.models.wae_mmd:WAEMMD", {"mmd_weight": 10.0, "encoder": "deterministic"}),
    "rae": ("vaebench.models.rae:RAE", {"beta": 1e-4, "decoder_l2": 1e-7}),
}

# name -> the paper it implements, shown by `python -m vaebench list` (defaults are MODELS' dicts;
# each model's file says where they come from)
CITATIONS: dict[str, str] = {
    "pca": "Tipping & Bishop 1999, Probabilistic principal component analysis (JRSS-B)",
    "ae": "Hinton & Salakhutdinov 2006, Reducing the dimensionality of data with neural networks (Science)",
    "vae": "Kingma & Welling 2014, Auto-encoding variational Bayes (ICLR)",
    "beta_vae": "Higgins et al. 2017, beta-VAE: learning basic visual concepts with a constrained variational framework (ICLR)",
    "cvae": "Sohn, Lee & Yan 2015, Learning structured output representation using deep conditional generative models (NeurIPS)",
    "linear_vae": "Lucas, Tucker, Grosse & Norouzi 2019, Don't blame the ELBO! A linear VAE perspective on posterior collapse (NeurIPS)",
    "annealed_vae": "Burgess et al. 2018, Understanding disentangling in beta-VAE (NeurIPS workshop on learning disentangled representations)",
    "beta_tcvae": "Chen, Li, Grosse & Duvenaud 2018, Isolating sources of disentanglement in variational autoencoders (NeurIPS)",
    "factor_vae": "Kim & Mnih 2018, Disentangling by factorising (ICML)",
    "dip_vae_i": "Kumar, Sattigeri & Balakrishnan 2018, Variational inference of disentangled latent concepts from unlabeled observations (ICLR)",
    "dip_vae_ii": "Kumar, Sattigeri & Balakrishnan 2018, Variational inference of disentangled latent concepts from unlabeled observations (ICLR)",
    "iwae": "Burda, Grosse & Salakhutdinov 2016, Importance weighted autoencoders (ICLR)",
    "vamp_vae": "Tomczak & Welling 2018, VAE with a VampPrior (AISTATS)",
    "wae_mmd": "Tolstikhin, Bousquet, Gelly & Schölkopf 2018, Wasserstein auto-encoders (ICLR)",
    "rae": "Ghosh, Sajjadi, Vergari, Black & Schölkopf 2020, From variational to deterministic autoencoders (ICLR)",
}

# string parameters: their allowed values
CHOICES: dict[str, tuple[str, ...]] = {"likelihood": ("bernoulli", "gaussian", "continuous_bernoulli"),
                                        "encoder": ("deterministic", "gaussian")}

# parameters added after runs existed: at their default they stay out of the spec (and so out of
# the run id), so every run id from before they existed is unchanged
ADDED_LATER: frozenset[str] = frozenset({"likelihood"})


def resolve_model(name: str, params: dict[str, Any]) -> ModelSpec:
    if ":" in name:  # a plug-in class, package.module:ClassName
        from vaebench.models.plugin import plugin_model_spec

        return plugin_model_spec(name, params)
    if name not in MODELS:
        raise UserError(f"unknown model {name!r}; choose one of {', '.join(MODELS)} or give a class as package.module:ClassName")
    defaults = MODELS[name][1]
    unknown = set(params) - set(defaults)
    if unknown:
        raise UserError(f"model {name!r} has no parameter(s) {sorted(unknown)}; it takes {sorted(defaults) or 'none'}")
    merged = {**defaults, **params}
    for key, value in merged.items():
        if isinstance(defaults[key], float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise UserError(f"model {name!r}: {key} must be a number, got {value!r}")
        if isinstance(defaults[key], int) and not isinstance(defaults[key], bool) and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer() or value < 1):
            raise UserError(f"model {name!r}: {key} must be an integer >= 1 (a whole number), got {value!r}")
        if key in CHOICES and value not in CHOICES[key]:
            raise UserError(f"model {name!r}: {key} must be one of {', '.join(CHOICES[key])}, got {value!r}")
    kept = {k: v for k, v in merged.items() if not (k in ADDED_LATER and v == defaults[k])}
    return ModelSpec(name, tuple(sorted((k, _typed(defaults[k], v)) for k, v in kept.items())))


def _typed(default, value):
    """A number as its default's type (floats as floats, counts as ints: YAML's 1e5 is a float)."""
    if isinstance(default, bool) or not isinstance(default, (int, float)):
        return value
    return float(value) if isinstance(default, float) else int(value)


def model_class(name: str):
    import importlib

    if ":" in name:  # a plug-in class path (validated by resolve_model)
        from vaebench.models.plugin import resolve_plugin

        return resolve_plugin(name)
    module, cls = MODELS[name][0].split(":")
    return getattr(importlib.import_module(module), cls)


def build_model(spec: ModelSpec, image_shape, latent_dim: int, num_classes: int, lr: float):
    return model_class(spec.name)(image_shape, latent_dim, num_classes=num_classes, lr=lr, **spec.params_dict())
