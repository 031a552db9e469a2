"""vaebench: a reproducible benchmark suite for autoencoders on PyTorch Lightning."""

__version__ = "0.1.0"
