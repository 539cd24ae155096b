"""Domain types; imports nothing else internal except errors and units."""

from carpet.core.acquisition import InstanceRecord, PetAcquisition
from carpet.core.volume import GRID_ATOL_MM, Volume, affine_from_dicom

__all__ = ["GRID_ATOL_MM", "InstanceRecord", "PetAcquisition", "Volume", "affine_from_dicom"]
