"""The package's metadata says what it holds: one version (vaebench.__version__, which pyproject
reads), and a description whose model count is the registry's."""

from __future__ import annotations

import re
from importlib import metadata

import pytest

import vaebench
from tests.conftest import ROOT
from vaebench.models.registry import MODELS


def test_one_version_and_a_description_that_counts_the_models():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert metadata.version("vaebench") == vaebench.__version__
    count = int(re.search(r"(\d+) models", project["description"]).group(1))
    assert count == len(MODELS)
