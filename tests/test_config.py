"""Suite loading, validation and run ids."""

import dataclasses

import pytest

from vaebench.config import available_suites, expand, load_suite, parse_suite, with_overrides
from vaebench.errors import UserError

GOOD = {"name": "t", "datasets": ["digits"], "models": ["pca", {"name": "vae", "beta": 2}], "latent_dims": [2, 3], "seeds": [0, 1]}


def test_shipped_suites_load_and_expand():
    assert {"smoke", "latent_dim"} <= set(available_suites())
    smoke = load_suite("smoke")
    assert len(expand(smoke)) == 8
    ld = load_suite("latent_dim")
    assert ld.latent_dims == (2, 4, 8, 16, 32, 64) and ld.seeds == (0, 1, 2)
    assert {m.name for m in ld.models} == {"pca", "ae", "vae", "cvae"}
    assert len(expand(ld)) == 72


def test_run_ids_are_stable_unique_and_ignore_the_suite_name():
    suite = parse_suite(GOOD)
    ids = [r.run_id for r in expand(suite)]
    assert len(set(ids)) == len(ids) == 8
    assert ids == [r.run_id for r in expand(parse_suite(GOOD))]
    renamed = parse_suite({**GOOD, "name": "other"})
    assert ids == [r.run_id for r in expand(renamed)]


def test_run_id_changes_with_everything_that_determines_the_result():
    base = expand(parse_suite(GOOD))[0]
    variants = [
        dataclasses.replace(base, seed=5),
        dataclasses.replace(base, latent_dim=7),
        dataclasses.replace(base, protocol=dataclasses.replace(base.protocol, lr=0.01)),
        dataclasses.replace(base, protocol=dataclasses.replace(base.protocol, max_epochs=3)),
    ]
    assert len({base.run_id, *(v.run_id for v in variants)}) == 5
    vae = [r for r in expand(parse_suite(GOOD)) if r.model.name == "vae"][0]
    other_beta = [r for r in expand(parse_suite({**GOOD, "models": [{"name": "vae", "beta": 3}]}))][0]
    assert vae.run_id != other_beta.run_id


@pytest.mark.parametrize(
    "change, message",
    [
        ({"models": ["nope"]}, "unknown model 'nope'"),
        ({"models": [{"name": "vae", "gamma": 1}]}, "no parameter"),
        ({"latent_dims": [0]}, "latent dim must be >= 1"),
        ({"latent_dims": ["a"]}, "list of integers"),
        ({"seeds": []}, "non-empty list"),
        ({"seeds": [-1]}, "seed must be in 0..4294967295"),
        ({"seeds": [2**32]}, "seed must be in 0..4294967295"),
        ({"seeds": [0, 0]}, "seed 0 is listed twice"),
        ({"latent_dims": [2, 3, 2]}, "latent dim 2 is listed twice"),
        ({"protocol": {"figure_latent_dims": [5]}}, r"figure_latent_dims \[5\] not among the latent dims \[2, 3\]"),
        ({"protocol": {"figure_latent_dims": [0]}}, "figure_latent_dims must be >= 1"),
        ({"protocol": {"lr": -1}}, r"protocol.lr must be > 0, got -1$"),
        ({"protocol": {"fid_samples": -5}}, r"protocol.fid_samples must be >= 0, got -5$"),
        ({"protocol": {"lr": "fast"}}, "must be a number"),
        ({"protocol": {"batch_size": 0}}, "batch_size must be >= 1"),
        ({"protocol": {"learning_rate": 1}}, "unknown protocol key"),
        ({"colour": 1}, "unknown key"),
    ],
)
def test_bad_suites_are_rejected_with_a_clear_message(change, message):
    with pytest.raises(UserError, match=message):
        parse_suite({**GOOD, **change})


def test_missing_key_and_non_mapping():
    with pytest.raises(UserError, match="missing required key 'seeds'"):
        parse_suite({k: v for k, v in GOOD.items() if k != "seeds"})
    with pytest.raises(UserError, match="mapping"):
        parse_suite(["a"])


def test_malformed_yaml_and_unknown_suite(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(UserError, match="malformed YAML"):
        load_suite(str(bad))
    with pytest.raises(UserError, match="unknown suite 'nope'"):
        load_suite("nope")


def test_overrides():
    s = with_overrides(load_suite("smoke"), models=["vae"], latent_dims=[3], seeds=[4], max_epochs=2)
    runs = expand(s)
    assert [(r.model.name, r.latent_dim, r.seed, r.protocol.max_epochs) for r in runs] == [("vae", 3, 4, 2)]
    with pytest.raises(UserError):
        with_overrides(load_suite("smoke"), latent_dims=[-1])


def test_models_override_selects_the_suites_configurations():
    """`--models NAME` on a suite that lists NAME with parameters (or a grid) runs the suite's
    configurations of NAME, not the registry's defaults: `--models annealed_vae` on the
    disentanglement suite is its annealed_vae grid, and `--models vae` on latent_dim is its
    continuous-Bernoulli VAE. A name the suite does not list gets the registry's defaults."""
    suite = load_suite("disentanglement")
    picked = with_overrides(suite, models=["annealed_vae", "ae"])
    assert picked.models == tuple(m for name in ("annealed_vae", "ae") for m in suite.models if m.name == name)
    assert len([m for m in picked.models if m.name == "annealed_vae"]) > 1  # the study's grid

    ld = with_overrides(load_suite("latent_dim"), models=["vae", "iwae"])
    assert [m.name for m in ld.models] == ["vae", "iwae"]
    assert ld.models[0].params_dict()["likelihood"] == "continuous_bernoulli"
    assert ld.models[0] in load_suite("latent_dim").models
    assert ld.models[1] == with_overrides(load_suite("smoke"), models=["iwae"]).models[0]

    # the order is the command line's; a name given twice is still an error
    assert [m.name for m in with_overrides(suite, models=["ae", "pca"]).models] == ["ae", "pca"]
    with pytest.raises(UserError, match="listed twice"):
        with_overrides(suite, models=["ae", "ae"])


def test_datasets_override_selects_the_suites_configurations():
    """The same for `--datasets`: the manifold benchmark lists `manifold` twice (k=3 linear,
    k=4 mlp); `--datasets manifold` keeps both, `--datasets digits` is digits with its defaults."""
    suite = load_suite("benchmarks/suites/manifold.yaml")
    assert with_overrides(suite, datasets=["manifold"]).datasets == suite.datasets
    assert [d.name for d in with_overrides(suite, datasets=["digits", "manifold"]).datasets] == ["digits", "manifold", "manifold"]
