"""Measurement of lesions: SUVmax/SUVpeak/SUVmean, MTV/TMTV/TLG, Dmax/Dbulk/SDmax.

Pure functions on :class:`~carpet.core.volume.Volume` (SUV) and integer label maps.
"""

from carpet.measure.columns import LESION_COLUMNS, PATIENT_KEYS
from carpet.measure.tables import measure_lesions, patient_metrics

__all__ = ["LESION_COLUMNS", "PATIENT_KEYS", "measure_lesions", "patient_metrics"]
