"""Units of voxel values and tiny conversion helpers.

Physical scalars carry their unit in their name (``weight_kg``, ``volume_ml``);
voxel arrays carry it in :class:`Unit` on their :class:`~carpet.core.volume.Volume`.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["Unit", "mm3_to_ml", "ml_to_mm3", "mbq_to_bq", "bq_to_mbq"]


class Unit(str, Enum):
    """Unit of the values of a volume.

    DICOM Units (0054,1001) keep DICOM spelling (``BQML``, ``CNTS``, ``GML``,
    ``CM2ML``, ``PROPCNTS``); SUV variants are named by their normalisation.
    """

    BQML = "BQML"  # activity concentration, Bq/mL
    CNTS = "CNTS"
    PROPCNTS = "PROPCNTS"
    GML = "GML"  # DICOM "already SUV" (g/mL), SUVType tells which
    CM2ML = "CM2ML"  # DICOM SUVbsa
    SUV_BW = "SUVbw"  # g/mL
    SUV_LBM = "SUVlbm"  # SUL, g/mL
    SUV_BSA = "SUVbsa"  # cm2/mL
    SUV_IBW = "SUVibw"  # g/mL
    HU = "HU"
    LABEL = "LABEL"  # integer label map
    MASK = "MASK"  # boolean mask
    UNKNOWN = "UNKNOWN"

    @property
    def is_suv(self) -> bool:
        """True for SUV-normalised units (safe for SUVmax/TLG measurement)."""
        return self in (Unit.SUV_BW, Unit.SUV_LBM, Unit.SUV_BSA, Unit.SUV_IBW)


def mm3_to_ml(volume_mm3: float) -> float:
    """Convert mm³ to mL (1 mL = 1000 mm³)."""
    return volume_mm3 / 1000.0


def ml_to_mm3(volume_ml: float) -> float:
    """Convert mL to mm³."""
    return volume_ml * 1000.0


def mbq_to_bq(activity_mbq: float) -> float:
    """Convert MBq to Bq."""
    return activity_mbq * 1e6


def bq_to_mbq(activity_bq: float) -> float:
    """Convert Bq to MBq."""
    return activity_bq / 1e6
