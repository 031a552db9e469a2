"""What makes a table row one configuration: dataset (with its parameters), model (with its
non-default parameters), latent dim and protocol. Table, plots and compare key rows with
`row_key`, so runs of different configurations never share a row or a comparison.

Pure functions over a record's `spec` dict (no torch): they read `model_label`,
`dataset_label` and `protocol_id` where a record stores them, and derive them for records
written before those fields existed.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from vaebench.specs import format_value, label  # noqa: F401 (a label reads like a spec: `vae[beta=8]`)

PROTOCOL_ID_LEN = 8

# the row identity, in table order: (dataset label, model label, latent dim, protocol id)
ROW_KEY = ("dataset", "model", "latent_dim", "protocol")


# Protocol fields that say how a run was computed, not what was measured: they may change the
# last bits of a number (threads) or which figures are stored, never what a metric means, so rows
# that differ only in them are one configuration. The run id still hashes them (bitwise reruns).
ENGINEERING_KEYS = ("num_threads", "eval_batch_size", "figure_latent_dims")


def scientific_protocol(protocol: dict[str, Any]) -> dict[str, Any]:
    """The protocol without its ENGINEERING_KEYS: what a row's protocol id hashes."""
    return {k: v for k, v in protocol.items() if k not in ENGINEERING_KEYS}


def protocol_id(protocol: dict[str, Any]) -> str:
    """A short, stable hash of the scientific part of a protocol dict (see ENGINEERING_KEYS)."""
    blob = json.dumps(scientific_protocol(protocol), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:PROTOCOL_ID_LEN]


def _registered_model_defaults(name: str) -> dict[str, Any] | None:
    from vaebench.models.registry import MODELS

    return MODELS[name][1] if name in MODELS else None


def model_label(spec: dict[str, Any]) -> str:
    """The model with its non-default parameters, e.g. `vae[beta=8]` (a record's `model_label`
    when it has one)."""
    if spec.get("model_label"):
        return str(spec["model_label"])
    name = str(spec["model"])
    return label(name, dict(spec.get("model_params") or {}), _registered_model_defaults(name))


def dataset_label(spec: dict[str, Any]) -> str:
    """The dataset with its parameters, e.g. `manifold[k=5]` (a record's `dataset_label` when
    it has one)."""
    if spec.get("dataset_label"):
        return str(spec["dataset_label"])
    return label(str(spec["dataset"]), dict(spec.get("dataset_params") or {}), None)


def spec_protocol_id(spec: dict[str, Any]) -> str:
    return str(spec.get("protocol_id") or protocol_id(spec.get("protocol") or {}))


def row_key(spec: dict[str, Any]) -> tuple[str, str, int, str]:
    """(dataset label, model label, latent dim, protocol id): one table row."""
    return (dataset_label(spec), model_label(spec), int(spec["latent_dim"]), spec_protocol_id(spec))


_UNSAFE = re.compile(r"[^A-Za-z0-9._=,+-]+")


def safe_filename(text: str) -> str:
    """A file-name fragment that is safe on every file system and in zip files (no ':', '/',
    brackets or spaces): runs of other characters become '_'."""
    return _UNSAFE.sub("_", text).strip("_") or "_"


# metrics whose value depends on the likelihood: bounds on a Bernoulli pseudo-likelihood of grey
# levels (nats, negative) and on a density of dequantized images (nats, can be large and
# positive) are different quantities; only `bpd` compares across likelihoods
LIKELIHOOD_METRICS = ("elbo", "iwae", "rec_nll", "elbo_cond", "iwae_cond", "rec_nll_cond")


def model_likelihood(model: str) -> str | None:
    """The likelihood of a model label (`vae[likelihood=gaussian]` -> gaussian; `vae` -> the
    registered default, bernoulli); None for a model without a likelihood parameter."""
    match = re.fullmatch(r"([^\[]+)(?:\[(.*)\])?", model)
    name, params = (match.group(1), match.group(2) or "") if match else (model, "")
    for part in params.split(","):
        key, _, value = part.partition("=")
        if key == "likelihood":
            return value
    defaults = _registered_model_defaults(name) or {}
    return defaults.get("likelihood")
