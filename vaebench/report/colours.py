"""A configuration's colour and marker in every figure and on the site, from its model name alone,
so `vae` and `vae[likelihood=continuous_bernoulli]` are the same colour in every results folder.

Colours: Okabe & Ito's colour-blind-safe set, extended with Paul Tol's (muted, dark), one fixed
colour per registered model; yellow is left out (it barely shows on white). Any other model name
(a plug-in) hashes into the same palette. Configurations of one model with non-default
parameters keep their model's colour and get their own marker (hashed from the full label).
No matplotlib here: the site uses it too.
"""

from __future__ import annotations

import hashlib

MODEL_COLOURS = {
    "pca": "#555555", "ae": "#0072B2", "vae": "#D55E00", "cvae": "#009E73", "beta_vae": "#CC79A7",
    "iwae": "#E69F00", "linear_vae": "#56B4E9", "annealed_vae": "#882255", "beta_tcvae": "#117733",
    "factor_vae": "#332288", "dip_vae_i": "#44AA99", "dip_vae_ii": "#999933", "vamp_vae": "#AA4499",
    "wae_mmd": "#661100", "rae": "#6699CC",
}
BUILTIN_COLOURS = MODEL_COLOURS  # the name the plots module exported first
OTHER_COLOURS = ("#CC79A7", "#E69F00", "#56B4E9", "#882255", "#117733", "#AA4499", "#44AA99", "#999933",
                 "#661100", "#6699CC", "#332288")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def model_name(label: str) -> str:
    """`vae[beta=4]` -> `vae`; a plug-in's `pkg.mod:Class[...]` -> `pkg.mod:Class`."""
    return label.split("[", 1)[0]


def model_colour(label: str) -> str:
    """The colour of a model label everywhere: its model's fixed colour, else a stable hash pick."""
    name = model_name(label)
    return MODEL_COLOURS.get(name) or OTHER_COLOURS[_hash(name) % len(OTHER_COLOURS)]


def model_marker(label: str) -> str:
    """"o" for a model at its defaults (the bare name); a hashed other marker for a configuration
    with parameters, so two configurations of one model differ in shape."""
    if label == model_name(label):
        return "o"
    return MARKERS[1 + (_hash(label) >> 16) % (len(MARKERS) - 1)]
