"""What a suite names: a model or a dataset with its parameters (defaults filled in).

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
        from vaebench.report.identity import label

        return label(self.name, self.params_dict(), dict(self.defaults))
