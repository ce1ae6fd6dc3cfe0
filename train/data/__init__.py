"""Dataset audit and leak-free splits (``brainedge-data``), TensorFlow-free so it stays fast.

The split is written as a manifest (``edge_runtime.manifest``) that training, export and the
benchmarks all read, so every stage agrees on what is held out.
"""

from brainedge.edge_runtime.manifest import Manifest, ManifestRow, class_weights, read_manifest, write_manifest
from brainedge.train.data.audit import Audit, manifest_dataset, run_audit, summarize
from brainedge.train.data.duplicates import DEFAULT_THRESHOLD
from brainedge.train.data.loading import Dataset, binary_mapping, load_dataset, load_roots, read_mapping
from brainedge.train.data.split import assign_splits, make_split, split_audit

__all__ = [
    "DEFAULT_THRESHOLD",
    "Audit",
    "Dataset",
    "Manifest",
    "ManifestRow",
    "assign_splits",
    "binary_mapping",
    "class_weights",
    "load_dataset",
    "load_roots",
    "make_split",
    "manifest_dataset",
    "read_manifest",
    "read_mapping",
    "run_audit",
    "split_audit",
    "summarize",
    "write_manifest",
]
