"""Reading input files: DICOM discovery, series → Volume, NIfTI, the PET loader.

This is the only package that reads input files. Public API:

* :func:`discover` → :class:`Discovery` (``series``: :class:`SeriesInfo`, ``problems``: :class:`FileProblem`)
* :func:`read_series_volume` (one series → :class:`~carpet.core.volume.Volume` in its own units),
  :func:`series_geometry` (the same checks and grid from headers only)
* :func:`read_pet` → :class:`PetStudy` (SUVbw + provenance), :func:`read_ct_for`
* :func:`read_nifti` / :func:`write_nifti` / :func:`nifti_bytes`
* :func:`resample_to` (re-exported from :mod:`carpet.core.geometry`)

Error codes raised by ingest (``CarpetError.code``)
---------------------------------------------------
=====================  =======================================================================
code                   meaning (remedy)
=====================  =======================================================================
PATH_NOT_FOUND         the path does not exist
NOT_DICOM              a file is not DICOM (listed in ``Discovery.problems``, never raised by
                       :func:`discover`)
UNREADABLE_FILE        I/O error or a header pydicom cannot parse (listed)
TRUNCATED_FILE         file shorter than its PixelData length (listed; its slice then counts
                       as missing)
NO_PET_SERIES          no PET series under the path
NO_AC_PET_SERIES       PET found, but none attenuation-corrected (give ``series_uid``)
SERIES_NOT_FOUND       ``series_uid`` not under the path
NOT_PET_SERIES         ``series_uid`` names a non-PET series
MISSING_GEOMETRY       ImagePositionPatient / ImageOrientationPatient / PixelSpacing / Rows
                       missing or malformed
MIXED_GEOMETRY         instances differ in orientation, matrix size or pixel spacing
MIXED_SERIES           files of several series passed as one
MISSING_SLICE          gaps of a whole multiple of the slice step (files lost in transfer)
DUPLICATE_SLICE        two different images at one position (two reconstructions or time
                       points mixed); identical duplicates are dropped with a HeaderWarning
NON_UNIFORM_SPACING    irregular slice steps, or positions not on one straight line
UNDECODABLE_PIXELS     compressed pixel data the installed decoders cannot read
UNSUPPORTED_MULTIFRAME multi-frame image without per-frame functional groups
NIFTI_UNITS_REQUIRED   NIfTI input to :func:`read_pet` without ``units="suv"``
NIFTI_UNREADABLE       not a readable NIfTI file
NIFTI_NOT_3D           NIfTI image that is not 3-D
=====================  =======================================================================

SUV refusals come from :mod:`carpet.suv` (``SuvError`` codes documented there).
"""

from carpet.core.geometry import resample_to
from carpet.ingest.dicom import SeriesGeometry, read_series_volume, series_geometry, unit_of_series
from carpet.ingest.discover import Discovery, FileProblem, InstanceHeader, SeriesInfo, discover
from carpet.ingest.nifti import nifti_bytes, read_nifti, write_nifti
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
    "nifti_bytes",
    "read_ct_for",
    "read_nifti",
    "read_pet",
    "read_series_volume",
    "resample_to",
    "series_geometry",
    "unit_of_series",
    "write_nifti",
]
