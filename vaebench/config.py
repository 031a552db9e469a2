"""Suite and run specifications: YAML loading, validation, expansion into runs, stable run ids.

Everything here is pure: a suite YAML becomes a `SuiteSpec`, which expands into `RunSpec`s,
each carrying a run id that hashes everything that determines its result.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from vaebench import __version__
from vaebench.errors import UserError
from vaebench.models.registry import resolve_model
from vaebench.specs import DatasetSpec, ModelSpec, Params  # noqa: F401 (ModelSpec: re-exported)

SUITES_PACKAGE = "vaebench.suites"


@dataclass(frozen=True)
class Protocol:
    """The training and evaluation protocol shared by every run of a suite."""

    optimizer: str = "adam"
    lr: float = 1e-3
    batch_size: int = 128  # global batch: under DDP each rank gets batch_size / world_size
    max_epochs: int = 50
    patience: int = 10  # early stopping on the validation loss; 0 disables it
    iwae_k: int = 64  # importance samples for the `iwae` bound
    eval_batch_size: int = 1000
    num_threads: int = 0  # torch CPU threads for the run; 0 = torch's default (all cores)
    fid_backbone: str = "auto"  # auto (inception if its weights are here, else classifier) | inception | classifier | none
    fid_samples: int = 0  # samples for FID; 0 = the test-set size
    figure_latent_dims: tuple[int, ...] = ()  # runs that also store sample/recon figures
    # -- added in 0.2; they enter to_dict() (hence run ids) only when set, so older ids stay valid
    max_steps: int = 0  # stop after this many optimizer steps; 0 = only max_epochs limits
    steps_per_epoch: int = 0  # an "epoch" (validation, early stopping) every n steps; 0 = the whole train split
    dci_estimator: str = "fast"  # disentanglement data sets: fast | gbt (disentanglement_lib's)
    disentanglement_sample_scale: float = 1.0  # x disentanglement_lib's sample counts (CPU runs: < 1)
    # -- the opt-in fast mode (GPU): Lightning precision, torch.compile mode of the training
    #    step ("" = off; default | reduce-overhead (CUDA graphs) | max-autotune), channels_last,
    #    and whether the run is held to deterministic kernels (vaebench.runner.determinism)
    precision: str = "32-true"
    compile: str = ""
    channels_last: bool = False
    deterministic: bool = True

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["figure_latent_dims"] = list(self.figure_latent_dims)
        for key in _OMITTED_AT_DEFAULT:
            if d[key] == getattr(_DEFAULT_PROTOCOL, key):
                del d[key]
        return d


_OMITTED_AT_DEFAULT = ("max_steps", "steps_per_epoch", "dci_estimator", "disentanglement_sample_scale",
                       "precision", "compile", "channels_last", "deterministic")
_DEFAULT_PROTOCOL = Protocol()


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    description: str
    datasets: tuple[DatasetSpec, ...]
    models: tuple[ModelSpec, ...]
    latent_dims: tuple[int, ...]
    seeds: tuple[int, ...]
    protocol: Protocol = field(default_factory=Protocol)


@dataclass(frozen=True)
class RunSpec:
    suite: str
    dataset: str
    model: ModelSpec
    latent_dim: int
    seed: int
    protocol: Protocol
    dataset_params: Params = ()  # the dataset's declared parameters, defaults filled in (most have none)

    @property
    def dataset_spec(self) -> DatasetSpec:
        """The dataset as the data registry loads it (name and parameters)."""
        return DatasetSpec(self.dataset, self.dataset_params)

    def identity(self) -> dict[str, Any]:
        """Everything that determines the result (and nothing else: not the suite's name).
        `dataset_params` enters only when the dataset has parameters, so the ids of runs on
        datasets without any are those from before datasets had parameters."""
        import torch

        d = {
            "dataset": self.dataset,
            "model": self.model.name,
            "model_params": self.model.params_dict(),
            "latent_dim": self.latent_dim,
            "seed": self.seed,
            "protocol": self.protocol.to_dict(),
            "vaebench": __version__,
            "torch": ".".join(torch.__version__.split("+")[0].split(".")[:2]),
        }
        if self.dataset_params:
            d["dataset_params"] = {k: _plain(v) for k, v in self.dataset_params}
        return d

    @property
    def run_id(self) -> str:
        blob = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(blob.encode()).hexdigest()[:12]
        return f"{self.dataset}-{self.model.name}-z{self.latent_dim}-s{self.seed}-{digest}"

    def to_dict(self) -> dict[str, Any]:
        """The record's spec: the identity, plus the row identity's readable parts (not hashed)."""
        from vaebench.identity import label, model_label, protocol_id

        d = self.identity()
        d["suite"] = self.suite
        d["run_id"] = self.run_id
        d["dataset_label"] = label(self.dataset, dict(self.dataset_params), _dataset_defaults(self.dataset))
        d["model_label"] = model_label(d) if ":" not in self.model.name else label(self.model.name, d["model_params"], self.model.defaults_dict())
        d["protocol_id"] = protocol_id(d["protocol"])
        return d


def _plain(value: Any) -> Any:
    """A parameter value as JSON holds it (lists, not the tuples that keep specs hashable)."""
    return [_plain(v) for v in value] if isinstance(value, tuple) else value


# ---------------------------------------------------------------- loading and validation


def available_suites() -> list[str]:
    files = resources.files(SUITES_PACKAGE).iterdir()
    return sorted(p.name[: -len(".yaml")] for p in files if p.name.endswith(".yaml"))


def load_suite(name_or_path: str) -> SuiteSpec:
    """Load a shipped suite by name, or a suite YAML file by path."""
    path = Path(name_or_path)
    if name_or_path.endswith((".yaml", ".yml")) or path.is_file():
        if not path.is_file():
            raise UserError(f"suite file {path} does not exist")
        text, origin = path.read_text(), str(path)
    else:
        if name_or_path not in available_suites():
            raise UserError(
                f"unknown suite {name_or_path!r}; choose one of {', '.join(available_suites())} "
                "or give the path of a suite YAML file"
            )
        text = resources.files(SUITES_PACKAGE).joinpath(f"{name_or_path}.yaml").read_text()
        origin = f"suite {name_or_path!r}"
    try:
        raw = yaml_load(text)
    except yaml.YAMLError as exc:
        raise UserError(f"{origin}: malformed YAML: {exc}") from None
    return parse_suite(raw, origin)


class _Loader(yaml.SafeLoader):
    """YAML as PyYAML reads it, except that `3e-4` is a float (YAML 1.2) and not the string
    that YAML 1.1 makes of an exponent without a dot."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][-+]?[0-9]+$"), list("-+0123456789.")
)


def yaml_load(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader)


_SUITE_KEYS = {"name", "description", "datasets", "models", "latent_dims", "seeds", "protocol"}


def parse_suite(raw: Any, origin: str = "suite") -> SuiteSpec:
    if not isinstance(raw, dict):
        raise UserError(f"{origin}: a suite must be a YAML mapping, got {type(raw).__name__}")
    unknown = set(raw) - _SUITE_KEYS
    if unknown:
        raise UserError(f"{origin}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_SUITE_KEYS)}")
    for key in ("name", "datasets", "models", "latent_dims", "seeds"):
        if key not in raw:
            raise UserError(f"{origin}: missing required key {key!r}")
    name = raw["name"]
    if not isinstance(name, str) or not name:
        raise UserError(f"{origin}: 'name' must be a non-empty string")
    return SuiteSpec(
        name=name,
        description=str(raw.get("description", "")),
        datasets=_unique([d for e in _list(raw["datasets"], "datasets", origin) for d in parse_datasets(e, origin)], "dataset", origin),
        models=_unique([m for e in _list(raw["models"], "models", origin) for m in parse_models(e, origin)], "model", origin),
        latent_dims=tuple(validate_latent_dims(_int_list(raw["latent_dims"], "latent_dims", origin), origin)),
        seeds=tuple(validate_seeds(_int_list(raw["seeds"], "seeds", origin), origin)),
        protocol=check_figure_dims(parse_protocol(raw.get("protocol") or {}, origin),
                                   raw["latent_dims"], origin, every=False),
    )


def parse_models(entry: Any, origin: str = "suite") -> list[ModelSpec]:
    """`vae`, `{name: vae, beta: 4}` or a grid `{name: vae, beta: [1, 4]}` (see `grid`); names
    and parameters are checked by the model registry."""
    name, params = _entry(entry, "model", origin)
    return [_named(origin, resolve_model, name, p) for p in grid(params, f"{origin}: model {name!r}")]


def parse_model(entry: Any, origin: str = "suite") -> ModelSpec:
    """One model configuration (a grid here is an error)."""
    specs = parse_models(entry, origin)
    if len(specs) != 1:
        raise UserError(f"{origin}: expected one model configuration, {entry!r} is a grid of {len(specs)}")
    return specs[0]


def parse_datasets(entry: Any, origin: str = "suite") -> list[DatasetSpec]:
    """`digits` or `{name: NAME, key: value}` (a grid like models'); names and parameters are
    checked by the data registry (only declared parameters may be set)."""
    from vaebench.data.registry import resolve_dataset

    name, params = _entry(entry, "dataset", origin)
    return [_named(origin, resolve_dataset, name, p) for p in grid(params, f"{origin}: dataset {name!r}")]


def _named(origin: str, resolve, name: str, params: dict[str, Any]):
    """`resolve(name, params)`, its errors prefixed with where the entry was written."""
    try:
        return resolve(name, params)
    except UserError as exc:
        raise UserError(f"{origin}: {exc}") from None


def _entry(entry: Any, what: str, origin: str) -> tuple[str, dict[str, Any]]:
    if isinstance(entry, str):
        return entry, {}
    if isinstance(entry, dict) and isinstance(entry.get("name"), str):
        return entry["name"], {k: v for k, v in entry.items() if k != "name"}
    raise UserError(f"{origin}: a {what} must be a name or a mapping with 'name', got {entry!r}")


def grid(params: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """A parameter mapping whose list values are grid axes -> one mapping per configuration (the
    cartesian product, in the order written). A parameter whose value is itself a list is
    written `{value: [...]}`, also inside a grid: `sizes: [{value: [1, 2]}, {value: [3]}]`."""
    axes = []
    for key, value in params.items():
        if isinstance(value, list):
            if not value:
                raise UserError(f"{where}: {key}: [] is an empty grid; give values, or {{value: []}} for an empty list")
            axes.append([(key, _literal(v, key, where, in_grid=True)) for v in value])
        else:
            axes.append([(key, _literal(value, key, where, in_grid=False))])
    return [dict(combo) for combo in itertools.product(*axes)]


def _literal(value: Any, key: str, where: str, in_grid: bool) -> Any:
    if isinstance(value, dict):
        if set(value) != {"value"}:
            raise UserError(f"{where}: {key}: a mapping as a parameter value must be {{value: X}} (X taken literally), got {value!r}")
        return value["value"]
    if isinstance(value, list) and in_grid:
        raise UserError(f"{where}: {key}: a list inside a grid is ambiguous; write a list-valued choice as {{value: {value!r}}}")
    return value


def _select(names: list[str], listed: tuple, parse, what: str, flag: str) -> tuple:
    """A command line's `--models`/`--datasets`: a name the suite lists selects the suite's
    configurations of it (its parameters, its grid), so that narrowing a suite never silently
    swaps its settings for the registry's defaults; any other name is parsed with its defaults.
    A name given twice is caught by `_unique`."""
    chosen: list = []
    for name in names:
        chosen.extend([spec for spec in listed if spec.name == name] or parse(name, flag))
    return _unique(chosen, what, flag)


def _unique(specs: list, what: str, origin: str) -> tuple:
    seen: set = set()
    for spec in specs:
        if spec in seen:
            raise UserError(f"{origin}: {what} {spec.name!r} with parameters {spec.params_dict()} is listed twice")
        seen.add(spec)
    return tuple(specs)


def _dataset_defaults(name: str) -> dict[str, Any] | None:
    from vaebench.data.registry import DATASETS, resolve_dataset

    return dict(resolve_dataset(name).defaults) if name in DATASETS else None


def parse_protocol(raw: Any, origin: str = "suite") -> Protocol:
    if not isinstance(raw, dict):
        raise UserError(f"{origin}: 'protocol' must be a mapping")
    fields = {f.name: f for f in dataclasses.fields(Protocol)}
    unknown = set(raw) - set(fields)
    if unknown:
        raise UserError(f"{origin}: unknown protocol key(s) {sorted(unknown)}; allowed: {sorted(fields)}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        default = getattr(_DEFAULT_PROTOCOL, key)
        if key == "figure_latent_dims":  # may be empty: no figure runs
            values[key] = tuple(_int_list(value, f"protocol.{key}", origin)) if value != [] else ()
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise UserError(f"{origin}: protocol.{key} must be true or false, got {value!r}")
            values[key] = value
        elif isinstance(default, str):
            values[key] = str(value)
        elif isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise UserError(f"{origin}: protocol.{key} must be a number, got {value!r}")
            values[key] = float(value)
        else:
            if isinstance(value, bool) or not isinstance(value, int):
                raise UserError(f"{origin}: protocol.{key} must be an integer, got {value!r}")
            values[key] = value
    protocol = Protocol(**values)
    if protocol.fid_backbone not in ("auto", "inception", "classifier", "none"):
        raise UserError(f"{origin}: protocol.fid_backbone must be auto, inception, classifier or none")
    if protocol.optimizer != "adam":
        raise UserError(f"{origin}: protocol.optimizer {protocol.optimizer!r} is not supported (adam)")
    for key in ("batch_size", "max_epochs", "iwae_k", "eval_batch_size"):
        if getattr(protocol, key) < 1:
            raise UserError(f"{origin}: protocol.{key} must be >= 1, got {getattr(protocol, key)}")
    if protocol.lr <= 0:
        raise UserError(f"{origin}: protocol.lr must be > 0, got {protocol.lr:g}")
    for key in ("patience", "num_threads", "fid_samples", "max_steps", "steps_per_epoch"):
        if getattr(protocol, key) < 0:
            raise UserError(f"{origin}: protocol.{key} must be >= 0, got {getattr(protocol, key)}")
    validate_latent_dims(list(protocol.figure_latent_dims), origin, "protocol.figure_latent_dims")
    if not 0 < protocol.disentanglement_sample_scale <= 1:
        raise UserError(f"{origin}: protocol.disentanglement_sample_scale must be in (0, 1]")
    if protocol.precision not in ("32-true", "bf16-mixed", "16-mixed"):
        raise UserError(f"{origin}: protocol.precision must be 32-true, bf16-mixed or 16-mixed")
    if protocol.compile not in ("", "default", "reduce-overhead", "max-autotune"):
        raise UserError(f"{origin}: protocol.compile must be empty, default, reduce-overhead or max-autotune")
    if protocol.dci_estimator not in ("fast", "gbt"):
        raise UserError(f"{origin}: protocol.dci_estimator must be fast or gbt")
    return protocol


SEED_MAX = 2**32 - 1  # numpy's and Lightning's seed range is 0 .. 2**32 - 1


def validate_latent_dims(dims: list[int], origin: str = "", what: str = "latent dim") -> list[int]:
    """Each latent dim >= 1, none listed twice (a run listed twice is an error, like a model)."""
    where = f"{origin}: " if origin else ""
    for d in dims:
        if d < 1:
            raise UserError(f"{where}{what} must be >= 1, got {d}")
    _no_repeats(dims, what, where)
    return dims


def validate_seeds(seeds: list[int], origin: str = "") -> list[int]:
    """Each seed in 0 .. 2**32 - 1 (what seeding numpy and torch accepts), none listed twice."""
    where = f"{origin}: " if origin else ""
    for s in seeds:
        if not 0 <= s <= SEED_MAX:
            raise UserError(f"{where}seed must be in 0..{SEED_MAX} (2**32 - 1), got {s}")
    _no_repeats(seeds, "seed", where)
    return seeds


def _no_repeats(values: list[int], what: str, where: str) -> None:
    seen: set[int] = set()
    for v in values:
        if v in seen:
            raise UserError(f"{where}{what} {v} is listed twice; each configuration runs once")
        seen.add(v)


def check_figure_dims(protocol: Protocol, latent_dims, origin: str, every: bool) -> Protocol:
    """protocol.figure_latent_dims must name latent dims the suite runs: with `every`, each one
    (a value set on the command line); else at least one (a suite file may list a dim that only
    some of its variants run), so that asking for figures never silently makes none."""
    wanted = list(protocol.figure_latent_dims)
    missing = [d for d in wanted if d not in latent_dims]
    if missing and (every or len(missing) == len(wanted)):
        raise UserError(f"{origin}: protocol.figure_latent_dims {missing} not among the latent dims "
                        f"{list(latent_dims)}: figures are made only for runs of those dims")
    return protocol


def _list(value: Any, key: str, origin: str) -> list:
    if not isinstance(value, list) or not value:
        raise UserError(f"{origin}: {key!r} must be a non-empty list")
    return value


def _int_list(value: Any, key: str, origin: str) -> list[int]:
    items = _list(value, key, origin)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in items):
        raise UserError(f"{origin}: {key!r} must be a list of integers, got {value!r}")
    return items


# ---------------------------------------------------------------- overrides and expansion


def with_overrides(
    suite: SuiteSpec,
    datasets: list[str] | None = None,
    models: list[str] | None = None,
    latent_dims: list[int] | None = None,
    seeds: list[int] | None = None,
    max_epochs: int | None = None,
    fid_backbone: str | None = None,
    max_steps: int | None = None,
    fast: bool = False,
    sets: list[str] | None = None,
) -> SuiteSpec:
    """The suite with the command line's overrides; `sets` (`--set protocol.KEY=VALUE`) last."""
    changes: dict[str, Any] = {}
    protocol_changes: dict[str, Any] = {}
    if datasets:
        changes["datasets"] = _select(datasets, suite.datasets, parse_datasets, "dataset", "--datasets")
    if models:
        changes["models"] = _select(models, suite.models, parse_models, "model", "--models")
    if latent_dims:
        changes["latent_dims"] = tuple(validate_latent_dims(latent_dims, "--latent-dims"))
    if seeds:
        changes["seeds"] = tuple(validate_seeds(seeds, "--seeds"))
    if max_epochs is not None:
        if max_epochs < 1:
            raise UserError(f"--max-epochs must be >= 1, got {max_epochs}")
        protocol_changes["max_epochs"] = max_epochs
    if fid_backbone is not None:
        protocol_changes["fid_backbone"] = fid_backbone
    if max_steps is not None:
        if max_steps < 1:
            raise UserError(f"--max-steps must be >= 1, got {max_steps}")
        protocol_changes["max_steps"] = max_steps
    if fast:
        protocol_changes.update(precision="bf16-mixed", compile="default", channels_last=True, deterministic=False)
    if protocol_changes:
        changes["protocol"] = parse_protocol({**suite.protocol.to_dict(), **protocol_changes}, "command line")
    return apply_set_overrides(dataclasses.replace(suite, **changes), sets)


def apply_set_overrides(suite: SuiteSpec, items: list[str] | None) -> SuiteSpec:
    """`--set protocol.KEY=VALUE` (repeatable, applied after the other flags): VALUE is read as
    YAML (`3e-4`, `[2, 8]`, `true`, `gbt`) and the changed protocol is validated by
    `parse_protocol`, as in a suite file."""
    changes: dict[str, Any] = {}
    for item in items or ():
        where = f"--set {item}"
        key, eq, text = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise UserError(f"{where}: expected protocol.KEY=VALUE, e.g. --set protocol.lr=3e-4")
        section, dot, field_name = key.partition(".")
        if section != "protocol" or not dot or not field_name:
            raise UserError(
                f"{where}: --set sets protocol fields only (protocol.KEY=VALUE); datasets, models, latent dims "
                "and seeds have --datasets, --models, --latent-dims and --seeds"
            )
        if field_name in changes:
            raise UserError(f"{where}: protocol.{field_name} is set twice")
        try:
            changes[field_name] = yaml_load(text) if text.strip() else ""
        except yaml.YAMLError:
            raise UserError(f"{where}: the value {text!r} is not valid YAML") from None
    if not changes:
        return suite
    protocol = parse_protocol({**suite.protocol.to_dict(), **changes}, "--set")
    if "figure_latent_dims" in changes:
        check_figure_dims(protocol, suite.latent_dims, "--set", every=True)
    return dataclasses.replace(suite, protocol=protocol)


def expand(suite: SuiteSpec) -> list[RunSpec]:
    """The suite's runs, in a stable order (dataset, model, latent dim, seed)."""
    return [
        RunSpec(suite.name, dataset.name, model, dim, seed, suite.protocol, dataset.params)
        for dataset in suite.datasets
        for model in suite.models
        for dim in suite.latent_dims
        for seed in suite.seeds
    ]


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """`"i/n"` (0 <= i < n) -> (i, n)."""
    if text is None:
        return None
    try:
        i, n = (int(p) for p in text.split("/"))
    except ValueError:
        raise UserError(f"--shard must look like i/n (e.g. 0/4), got {text!r}") from None
    if not 0 <= i < n:
        raise UserError(f"--shard i/n needs 0 <= i < n, got {text!r}")
    return i, n


def shard_runs(runs: list[RunSpec], shard: tuple[int, int] | None) -> list[RunSpec]:
    if shard is None:
        return runs
    i, n = shard
    return runs[i::n]
