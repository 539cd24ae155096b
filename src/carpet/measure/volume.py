"""Volume-based measures: lesion MTV, TMTV and TLG (methods.md §3).

TMTV is the volume of the union of lesion masks; carpet's label maps hold one
lesion id per voxel, so the union is counted once by construction and
``TMTV = Σ MTVℓ``. TLG = Σ MTVℓ × SUVmeanℓ = v × Σ SUV over the union.
"""

from __future__ import annotations

import numpy as np

__all__ = ["tlg", "tmtv_ml", "volume_ml"]


def volume_ml(n_voxels: int | np.ndarray, voxel_volume_ml: float) -> float | np.ndarray:
    """Metabolic volume (mL) of ``n_voxels`` voxels of ``voxel_volume_ml`` mL each.

    Examples
    --------
    >>> volume_ml(125, 0.008)
    1.0
    """
    return n_voxels * voxel_volume_ml


def tmtv_ml(lesion_volumes_ml: np.ndarray) -> float:
    """Total metabolic tumour volume (mL): sum of disjoint lesion volumes."""
    return float(np.sum(np.asarray(lesion_volumes_ml, dtype=np.float64)))


def tlg(lesion_volumes_ml: np.ndarray, lesion_suv_means: np.ndarray) -> float:
    """Total lesion glycolysis (g): Σ MTVℓ (mL) × SUVmeanℓ (g/mL).

    Examples
    --------
    >>> tlg(np.array([2.0, 1.0]), np.array([5.0, 10.0]))
    20.0
    """
    v = np.asarray(lesion_volumes_ml, dtype=np.float64)
    m = np.asarray(lesion_suv_means, dtype=np.float64)
    return float(np.sum(v * m))
