"""Registry of the biomarker columns and keys carpet writes (one home for names, units, definitions).

``LESION_COLUMNS`` are the columns of ``lesions.csv`` in order; ``PATIENT_KEYS``
the biomarker keys of ``patient.json``. Each entry: dtype, unit, definition.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["BIOMARKER_KEYS", "Column", "LESION_COLUMNS", "PATIENT_KEYS", "lesion_csv_columns"]


class Column(NamedTuple):
    """One documented column: dtype, unit and definition (with source)."""

    dtype: str
    unit: str
    definition: str


LESION_COLUMNS: dict[str, Column] = {
    "lesion_id": Column(
        "int", "", "label value of the lesion in mask.nii.gz; stable across reader edits"
    ),
    "volume_ml": Column("float", "mL", "MTV: voxel count x voxel volume"),
    "suv_max": Column("float", "g/mL", "highest voxel SUV in the lesion"),
    "suv_peak": Column(
        "float",
        "g/mL",
        "highest mean SUV in a 1 mL sphere centred on any lesion voxel (fractional overlap)",
    ),
    "suv_mean": Column("float", "g/mL", "mean voxel SUV in the lesion"),
    "tlg": Column("float", "g", "volume_ml x suv_mean"),
    "centroid_x_mm": Column(
        "float", "mm", "centroid of the lesion voxel centres, DICOM LPS x (towards patient left)"
    ),
    "centroid_y_mm": Column("float", "mm", "centroid, DICOM LPS y (towards posterior)"),
    "centroid_z_mm": Column("float", "mm", "centroid, DICOM LPS z (towards head)"),
    "n_voxels": Column("int", "", "number of voxels"),
    "max_x_mm": Column("float", "mm", "LPS x of the SUVmax voxel"),
    "max_y_mm": Column("float", "mm", "LPS y of the SUVmax voxel"),
    "max_z_mm": Column("float", "mm", "LPS z of the SUVmax voxel"),
    "threshold_suv": Column("float", "g/mL", "SUV threshold the method used for this lesion"),
    "method": Column("str", "", "segmentation method of this lesion"),
    "origin": Column("str", "", "'auto' (automatic preselection) or 'added' (reader edit)"),
}

PATIENT_KEYS: dict[str, Column] = {
    "tmtv_ml": Column("float", "mL", "total metabolic tumour volume: union of lesion masks"),
    "tlg": Column("float", "g", "total lesion glycolysis: sum of lesion volume_ml x suv_mean"),
    "suv_max": Column("float", "g/mL", "highest lesion SUVmax"),
    "suv_peak": Column("float", "g/mL", "highest lesion SUVpeak"),
    "suv_mean": Column("float", "g/mL", "mean SUV over the union of lesions (tlg / tmtv_ml)"),
    "lesion_count": Column("int", "", "number of lesions after edits"),
    "dmax_mm": Column("float", "mm", "largest distance between lesion centroids (Cottereau)"),
    "dmax_voxel_mm": Column("float", "mm", "largest distance between any two lesion voxel centres"),
    "sdmax_per_m": Column(
        "float|null",
        "1/m",
        "Dmax (m) / BSA (m2), BSA by bsa_formula; null without height or weight",
    ),
    "sdmax_dubois_per_m": Column("float|null", "1/m", "Dmax / BSA DuBois"),
    "sdmax_mosteller_per_m": Column("float|null", "1/m", "Dmax / BSA Mosteller"),
    "dbulk_mm": Column(
        "float", "mm", "distance from the largest lesion's centroid to the farthest other centroid"
    ),
    "liver_suv_mean": Column("float|null", "g/mL", "SUVmean of the 3 cm liver reference sphere"),
    "mbp_suv_mean": Column("float|null", "g/mL", "SUVmean of the mediastinal blood-pool reference"),
    "tlr": Column("float|null", "", "tumour-to-liver ratio: suv_peak / liver_suv_mean"),
}

#: The patient-level biomarkers of the ``carpet analyze`` contract (issue 4 §4), in contract
#: order: the columns a cohort table takes from ``patient.json``.
BIOMARKER_KEYS: tuple[str, ...] = (
    "tmtv_ml",
    "tlg",
    "suv_max",
    "suv_peak",
    "suv_mean",
    "lesion_count",
    "dmax_mm",
    "sdmax_per_m",
    "dbulk_mm",
)


def lesion_csv_columns() -> list[str]:
    """Columns of ``lesions.csv`` in order.

    Examples
    --------
    >>> lesion_csv_columns()[:3]
    ['lesion_id', 'volume_ml', 'suv_max']
    """
    return list(LESION_COLUMNS)
