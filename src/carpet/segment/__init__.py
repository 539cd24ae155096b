"""Lesion segmentation: preselection, per-lesion methods, physiological uptake, reader edits.

Pure functions on :class:`~carpet.core.volume.Volume` and arrays; files are read
by :mod:`carpet.ingest` and written by :mod:`carpet.export`.
"""

from carpet.segment.components import label_components, preselect_regions
from carpet.segment.edits import Segmentation, apply_edits, load_edits, validate_edits
from carpet.segment.methods import GrowthParams, Seed, grow_lesions
from carpet.segment.physio import EXCLUDED_CODES, body_frame, classify_regions

__all__ = [
    "EXCLUDED_CODES",
    "GrowthParams",
    "Seed",
    "Segmentation",
    "apply_edits",
    "body_frame",
    "classify_regions",
    "grow_lesions",
    "label_components",
    "load_edits",
    "preselect_regions",
    "validate_edits",
]
