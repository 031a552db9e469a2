"""Models from outside the registry: ``--models package.module:ClassName``.

A plug-in is any importable class with the constructor of the built-in models,
``(image_shape, latent_dim, num_classes=10, lr=1e-3, **params)``, that implements the
evaluation interface of ``vaebench.models.base`` (``encode``, ``decode``, ``sample``, the
attributes ``conditional`` and ``likelihood``) and can be trained: either a Lightning module
with ``objective(x, y) -> {"loss": ...}`` (derive from ``vaebench.models.base.LatentModel``,
which turns ``objective`` into training and validation steps) or a plain object with
``fit(train_x)`` (like PCA).

Its hyper-parameters are the constructor's keyword parameters that have defaults (beyond
``num_classes`` and ``lr``): a suite may set exactly those, and every run records all of them,
defaults included, so the run id changes when a default does. The model name in the run spec,
the run id and the results table is the class path exactly as given, so the run id is stable
across processes and machines. The plug-in's *source* is not hashed: after editing a plug-in,
write to a fresh ``--out`` folder (or delete its records), or finished runs are skipped.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
from typing import Any

from vaebench.errors import UserError
from vaebench.specs import ModelSpec

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_SPEC_RE = re.compile(rf"^{_IDENT}(\.{_IDENT})*:{_IDENT}(\.{_IDENT})*$")
_STANDARD = ("image_shape", "latent_dim", "num_classes", "lr")
_SCALARS = (bool, int, float, str, type(None))
_SIGNATURE = "(image_shape, latent_dim, num_classes=10, lr=1e-3, **params)"


def is_plugin_name(name: str) -> bool:
    """Model names with a ':' are plug-in class paths; registered names never contain one."""
    return ":" in name


def _import(module: str, spec: str):
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (module == missing or module.startswith(missing + ".")):
            cwd = os.getcwd()
            if cwd not in sys.path:  # `python -m vaebench` has the current folder on the path; the script does not
                sys.path.append(cwd)
                try:
                    return importlib.import_module(module)
                except ModuleNotFoundError:
                    pass
            raise UserError(
                f"model {spec!r}: cannot import module {module!r} (no module named {missing!r}); "
                "a plug-in module must be importable: run from the folder that contains it or add that folder to PYTHONPATH"
            ) from None
        raise UserError(f"model {spec!r}: importing {module!r} failed: {type(exc).__name__}: {exc}") from None
    except Exception as exc:  # a plug-in that fails on import is the user's to fix
        raise UserError(f"model {spec!r}: importing {module!r} failed: {type(exc).__name__}: {exc}") from None


def resolve_plugin(spec: str) -> type:
    """Import "package.module:ClassName" and check that it is a usable model class."""
    if not isinstance(spec, str) or not _SPEC_RE.match(spec):
        raise UserError(f"model {spec!r}: a plug-in model is written package.module:ClassName")
    module_name, attr_path = spec.split(":")
    obj: Any = _import(module_name, spec)
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            raise UserError(f"model {spec!r}: module {module_name!r} has no attribute {attr_path!r}")
        obj = getattr(obj, part)
    if not inspect.isclass(obj):
        raise UserError(f"model {spec!r}: {attr_path} is a {type(obj).__name__}, not a class")
    check_interface(obj, spec)
    return obj


def check_interface(cls: type, spec: str) -> None:
    """UserError naming what is missing when `cls` cannot be benchmarked."""
    missing = [m for m in ("encode", "decode", "sample") if not callable(getattr(cls, m, None))]
    if missing:
        raise UserError(
            f"model {spec!r}: {cls.__name__} does not implement the model interface: missing {', '.join(missing)} "
            "(see vaebench/models/base.py)"
        )
    import lightning as L

    if issubclass(cls, L.LightningModule):
        if not callable(getattr(cls, "objective", None)):
            raise UserError(f"model {spec!r}: {cls.__name__} is a LightningModule without objective(x, y) -> {{'loss': ...}}")
        for step in ("training_step", "validation_step"):
            if getattr(cls, step) is getattr(L.LightningModule, step):
                raise UserError(
                    f"model {spec!r}: {cls.__name__} has no {step}; derive from vaebench.models.base.LatentModel, "
                    "which builds the training and validation steps from objective()"
                )
    elif not callable(getattr(cls, "fit", None)):
        raise UserError(
            f"model {spec!r}: {cls.__name__} cannot be trained: it must be a LightningModule with objective(x, y) "
            "(e.g. a vaebench.models.base.LatentModel subclass) or have fit(train_x)"
        )
    if getattr(cls, "likelihood", None) not in ("bernoulli", "gaussian"):
        raise UserError(f"model {spec!r}: {cls.__name__}.likelihood must be 'bernoulli' or 'gaussian'")
    if not hasattr(cls, "conditional"):
        raise UserError(f"model {spec!r}: {cls.__name__} needs a class attribute `conditional` (True or False)")
    _check_signature(cls, spec)


def _check_signature(cls: type, spec: str) -> inspect.Signature:
    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):
        raise UserError(f"model {spec!r}: cannot read the constructor signature of {cls.__name__}") from None
    try:
        sig.bind((1, 8, 8), 2, num_classes=10, lr=1e-3)
    except TypeError as exc:
        raise UserError(f"model {spec!r}: {cls.__name__}'s constructor must be {_SIGNATURE} ({exc})") from None
    return sig


def plugin_defaults(cls: type, spec: str = "") -> tuple[dict[str, Any], bool]:
    """(the hyper-parameters with their defaults, whether the constructor also takes **kwargs)."""
    sig = _check_signature(cls, spec or cls.__name__)
    defaults: dict[str, Any] = {}
    var_kw = False
    for name, p in sig.parameters.items():
        if p.kind is p.VAR_KEYWORD:
            var_kw = True
            continue
        if name in _STANDARD or p.kind in (p.VAR_POSITIONAL, p.POSITIONAL_ONLY):
            continue
        if p.default is p.empty:
            raise UserError(f"model {spec!r}: constructor parameter {name!r} needs a default (constructor: {_SIGNATURE})")
        if isinstance(p.default, _SCALARS):
            defaults[name] = p.default
    return defaults, var_kw


def plugin_model_spec(name: str, params: dict[str, Any]) -> ModelSpec:
    """The registry's `resolve_model` for plug-in names: validates, fills in defaults, sorts."""
    cls = resolve_plugin(name)
    defaults, var_kw = plugin_defaults(cls, name)
    unknown = set(params) - set(defaults)
    if unknown and not var_kw:
        raise UserError(f"model {name!r} has no parameter(s) {sorted(unknown)}; it takes {sorted(defaults) or 'none'}")
    merged = {**defaults, **params}
    for key, value in merged.items():
        if not isinstance(value, _SCALARS):
            raise UserError(f"model {name!r}: {key} must be a number, string, boolean or null, got {value!r}")
        if key in defaults and isinstance(defaults[key], float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise UserError(f"model {name!r}: {key} must be a number, got {value!r}")
    normalised = {
        k: float(v) if k in defaults and isinstance(defaults[k], float) else v for k, v in merged.items()
    }
    return ModelSpec(name, tuple(sorted(normalised.items())), defaults=tuple(sorted(defaults.items())))
