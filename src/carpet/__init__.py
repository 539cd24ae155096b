"""carpet: FDG PET/CT tumour-burden biomarkers and outcome analysis for CAR T-cell therapy.

The public API is re-exported here; stages live in subpackages
(``ingest``, ``suv``, ``segment``, ``measure``, ``score``, ``survival``, ``report``).
"""

from carpet._version import __version__
from carpet.core.volume import Volume
from carpet.errors import (
    CarpetError,
    CarpetWarning,
    ConfigError,
    InputError,
    SegmentationError,
    SuvError,
)
from carpet.units import Unit

__all__ = [
    "CarpetError",
    "CarpetWarning",
    "ConfigError",
    "InputError",
    "SegmentationError",
    "SuvError",
    "Unit",
    "Volume",
    "__version__",
]
