"""Reading input files: DICOM discovery, series → Volume, NIfTI, the PET loader.

This is the only package that reads input files. Public API:

* :func:`discover` → :class:`Discovery` (``series``: :class:`SeriesInfo`, ``problems``: :class:`FileProblem`)
* :func:`read_series_volume` (one series → :class:`~carpet.core.volume.Volume` in its own units),
  :func:`series_geometry` (the same checks and grid from headers only)
* :func:`read_pet` → :class:`PetStudy` (SUVbw + provenance), :func:`read_ct_for`
* :func:`read_nifti` / :func:`write_nifti`
* :func:`resample_to` (re-exported from :mod:`carpet.core.geometry`)
"""

from carpet.core.geometry import resample_to
from carpet.ingest.dicom import SeriesGeometry, read_series_volume, series_geometry, unit_of_series
from carpet.ingest.discover import Discovery, FileProblem, InstanceHeader, SeriesInfo, discover
from carpet.ingest.nifti import read_nifti, write_nifti
from carpet.ingest.pet import PatientInfo, PetStudy, read_ct_for, read_pet

__all__ = [
    "Discovery",
    "FileProblem",
    "InstanceHeader",
    "PatientInfo",
    "PetStudy",
    "SeriesGeometry",
    "SeriesInfo",
    "discover",
    "read_ct_for",
    "read_nifti",
    "read_pet",
    "read_series_volume",
    "resample_to",
    "series_geometry",
    "unit_of_series",
    "write_nifti",
]
