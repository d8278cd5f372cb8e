"""Data: the `Dataset` type, readers for every supported format, splits and synthetic data.

`load(path, **options)` reads ARFF (Mulan/MEKA), svmlight/libsvm/Extreme Classification,
CSV/TSV/Parquet and JSON lines; heavy dependencies (pandas, scikit-learn) load on first use.
"""

from multitag.data.dataset import Dataset
from multitag.data.registry import (
    FormatSpec,
    ReaderOptions,
    detect_format,
    format_names,
    load,
    register_format,
)
from multitag.data.split_plan import SplitPlan, plan_parts, plan_split_report
from multitag.data.splits import (
    Split,
    iterative_stratification,
    kfold,
    split,
    train_test_split,
    validation_split,
)
from multitag.data.summary import DataSummary, SplitReport, split_report, summarize
from multitag.data.synthetic import SyntheticDistributions, SyntheticSpec, make_synthetic

__all__ = [
    "DataSummary",
    "Dataset",
    "FormatSpec",
    "ReaderOptions",
    "Split",
    "SplitPlan",
    "SplitReport",
    "SyntheticDistributions",
    "SyntheticSpec",
    "detect_format",
    "format_names",
    "iterative_stratification",
    "kfold",
    "load",
    "make_synthetic",
    "plan_parts",
    "plan_split_report",
    "register_format",
    "split",
    "split_report",
    "summarize",
    "train_test_split",
    "validation_split",
]
