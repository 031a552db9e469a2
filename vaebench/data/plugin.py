"""Data sets from outside the registry: `--datasets package.module:name`.

A plug-in is an importable function, or a class, that returns a `vaebench.data.base.Splits`:

* a function `load(data_root=None, **params) -> Splits`, or
* a class whose constructor takes `(**params)` and whose `load(data_root=None)` returns Splits.

Its parameters are the keyword parameters with defaults (beyond `data_root`), scalars only: a
suite may set exactly those (`datasets: [{name: "my_pkg.data:load", size: 32}]`), and every run
records all of them, so the run id changes when a default does. The name in run ids and tables
is the path exactly as given (as for model plug-ins); the plug-in's source is not hashed, but
the `checksum` its Splits carry goes into every record. What it returns is checked by
`checks.check_splits` (shapes, dtypes, ranges, labels, a network for the shape); a plug-in may
set `Splits.ground_truth` (the interface of `vaebench.data.factor_grid.FactorGrid`, checked) to
get the disentanglement metrics.

Imports are resolved as for model plug-ins (`vaebench.models.plugin`): the current folder is
on the path, as under `python -m`.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from vaebench.data.base import Splits
from vaebench.data.checks import check_splits
from vaebench.errors import UserError

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_SPEC_RE = re.compile(rf"^{_IDENT}(\.{_IDENT})*:{_IDENT}(\.{_IDENT})*$")
_SCALARS = (bool, int, float, str, type(None))
_FORMS = "a function load(data_root=None, **params) -> Splits, or a class with __init__(**params) and load(data_root=None) -> Splits"


def is_plugin_name(name: str) -> bool:
    return bool(_SPEC_RE.match(name))


def resolve(spec: str):
    """The function or class named by "package.module:attr", checked to be one of _FORMS."""
    from vaebench.models.plugin import _import

    module_name, attr_path = spec.split(":")
    try:
        obj: Any = _import(module_name, spec)
    except UserError as exc:
        raise UserError(str(exc).replace("model ", "dataset ", 1).replace("a plug-in module", "a plug-in data module")) from None
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            raise UserError(f"dataset {spec!r}: module {module_name!r} has no attribute {attr_path!r}")
        obj = getattr(obj, part)
    if inspect.isclass(obj):
        if not callable(getattr(obj, "load", None)):
            raise UserError(f"dataset {spec!r}: class {obj.__name__} has no load(data_root) method; a plug-in is {_FORMS}")
    elif not inspect.isfunction(obj):
        raise UserError(f"dataset {spec!r}: {attr_path} is a {type(obj).__name__}; a plug-in is {_FORMS}")
    return obj


def declared_params(obj, spec: str) -> dict[str, Any]:
    """The plug-in's parameters and their defaults (a class's constructor's, a function's beyond data_root)."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        raise UserError(f"dataset {spec!r}: cannot read the signature of {obj.__name__}") from None
    params = {}
    for i, (name, p) in enumerate(sig.parameters.items()):
        if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        if not inspect.isclass(obj) and i == 0 and name == "data_root":
            continue
        if p.default is p.empty or not isinstance(p.default, _SCALARS):
            raise UserError(f"dataset {spec!r}: parameter {name!r} of {obj.__name__} needs a default that is a "
                            f"number, string, boolean or None; a plug-in is {_FORMS}")
        params[name] = p.default
    if not inspect.isclass(obj) and "data_root" not in sig.parameters:
        raise UserError(f"dataset {spec!r}: {obj.__name__} must take data_root as its first parameter; a plug-in is {_FORMS}")
    return params


def loader(spec: str):
    """`loader(data_root, **params) -> Splits` for the registry: calls the plug-in and checks
    what it returns (a DataError naming the plug-in otherwise)."""

    def load(data_root=None, **params) -> Splits:
        obj = resolve(spec)
        try:
            splits = obj(**params).load(data_root) if inspect.isclass(obj) else obj(data_root, **params)
        except UserError:
            raise
        except Exception as exc:  # the plug-in's own failure is the user's to fix
            raise UserError(f"dataset {spec!r}: loading failed: {type(exc).__name__}: {exc}") from None
        return check_splits(splits, f"dataset {spec!r}")

    return load
