"""What a suite names: a model or a dataset with its parameters (defaults filled in), and the
label that names one in tables and file names (`vae[beta=8]`).

Plain data with no vaebench imports, so that `config` (which parses suites) and the model and
data registries (which resolve names into these specs) can all import it without a circle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Params = tuple[tuple[str, Any], ...]  # sorted (name, value) pairs; list values are tuples (hashable)


@dataclass(frozen=True)
class ModelSpec:
    """A registered model name and its hyper-parameters (defaults filled in by the registry)."""

    name: str
    params: Params = ()
    defaults: Params | None = field(default=None, compare=False)  # plug-ins: the constructor's

    def params_dict(self) -> dict[str, Any]:
        return dict(self.params)

    def defaults_dict(self) -> dict[str, Any] | None:
        return None if self.defaults is None else dict(self.defaults)


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset name and its declared parameters (defaults filled in by the registry;
    empty for a dataset that declares none)."""

    name: str
    params: Params = ()
    defaults: Params = field(default=(), compare=False)

    def params_dict(self) -> dict[str, Any]:
        return dict(self.params)

    def __str__(self) -> str:
        """`name`, or `name[key=value,...]` with the parameters that differ from the defaults."""
        return label(self.name, self.params_dict(), dict(self.defaults))


def format_value(value: Any) -> str:
    """A parameter value as it reads in a label: 4.0 -> 4, 0.25 -> 0.25, True -> true."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "(" + ",".join(format_value(v) for v in value) + ")"
    return str(value)


def label(name: str, params: dict[str, Any], defaults: dict[str, Any] | None) -> str:
    """`name[key=value,...]` with the parameters that differ from `defaults` (all of them when
    the defaults are unknown), sorted by key; just `name` when none differ."""
    shown = {k: v for k, v in sorted(params.items()) if defaults is None or k not in defaults or defaults[k] != v}
    if not shown:
        return name
    return f"{name}[" + ",".join(f"{k}={format_value(v)}" for k, v in shown.items()) + "]"
