"""Datasets: each loader returns a `Splits` of whole tensors; `registry` maps names to loaders."""

from vaebench.data.base import Splits
from vaebench.data.registry import DATASETS, dataset_status, load_dataset

__all__ = ["DATASETS", "Splits", "dataset_status", "load_dataset"]
