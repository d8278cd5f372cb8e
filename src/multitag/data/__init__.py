"""Data: the `Dataset` type, readers for every supported format, splits and synthetic data."""

from multitag.data.dataset import Dataset
from multitag.data.synthetic import SyntheticDistributions, SyntheticSpec, make_synthetic

__all__ = ["Dataset", "SyntheticDistributions", "SyntheticSpec", "make_synthetic"]
