"""The test suite as a package, so `tests.conftest` and plug-ins such as `tests.test_compare:ZIgnoringVAE`
resolve here and not to a top-level `tests` package a dependency installs (torch-fidelity 0.4.0 ships one)."""
