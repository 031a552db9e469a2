"""vaebench: a reproducible benchmark suite for autoencoders on PyTorch Lightning."""

import os as _os

__version__ = "0.1.0"

# cuBLAS is bitwise reproducible only with a fixed workspace, which it reads once, when its
# first handle is made: set it here, before any of vaebench's code (Lightning's included) can
# touch CUDA, unless the user set it (vaebench.runner.determinism says what each mode sets).
_os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
