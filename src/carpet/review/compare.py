"""Side-by-side, read-only review of a ``carpet response`` folder (baseline | follow-up).

Each time point shows its coronal MIP and lesion table from its saved ``carpet
analyze`` outputs (``mask.nii.gz``, ``lesions.csv``, ``patient.json``) over its PET;
lesions matched in ``lesion_matches.csv`` carry the same match number on both
sides. Edits are made per time point (``carpet review DIR/baseline``). The PETs are
those recorded in ``DIR/baseline/source.json`` and ``DIR/followup/source.json``
unless given explicitly.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from carpet.core.volume import Volume
from carpet.errors import InputError
from carpet.review.mip import CoronalMip, coronal_mip
from carpet.review.session import _check_series
from carpet.units import Unit

__all__ = ["TIMEPOINTS", "ResponseReview", "is_response_folder", "match_numbers"]

#: Sub-folders of a ``carpet response`` folder shown side by side.
TIMEPOINTS = ("baseline", "followup")


def is_response_folder(folder: str | os.PathLike[str]) -> bool:
    """True for a ``carpet response`` output folder (baseline/ and followup/ analyses)."""
    f = Path(folder)
    return all((f / t / "patient.json").is_file() for t in TIMEPOINTS)


def match_numbers(matches: pd.DataFrame) -> tuple[dict[int, int], dict[int, int]]:
    """Match number of each baseline and follow-up lesion id (matched pairs only).

    Uses the ``match_number`` column when present, else numbers the matched
    pairs 1, 2, ... in table order.

    Examples
    --------
    >>> t = pd.DataFrame({"baseline_id": [1, 2, None], "followup_id": [3, None, 1],
    ...                   "status": ["matched", "disappeared", "new"]})
    >>> match_numbers(t)
    ({1: 1}, {3: 1})
    """
    base: dict[int, int] = {}
    follow: dict[int, int] = {}
    n = 0
    for row in matches.to_dict("records"):
        b, f = row.get("baseline_id"), row.get("followup_id")
        if pd.isna(b) or pd.isna(f) or row.get("status") not in ("matched", "split", "merged"):
            continue
        num = row.get("match_number")
        if num is None or pd.isna(num):
            n += 1
            num = n
        base.setdefault(int(b), int(num))
        follow.setdefault(int(f), int(num))
    return base, follow


@dataclass
class _Timepoint:
    name: str
    patient: dict
    lesions: pd.DataFrame
    suv: Volume
    mip: CoronalMip
    numbers: dict[int, int]


class ResponseReview:
    """Read-only backend of the side-by-side page (``GET /api/compare``).

    Parameters
    ----------
    folder : path
        The ``carpet response`` folder.
    pets : dict
        PET source (folder/file) of each time point: ``{"baseline": p, "followup": q}``;
        a missing (None) one is taken from that time point's ``source.json``.
    units : str, optional
        Units of NIfTI PETs (``"suv"``).
    """

    mode = "compare"
    dirty = False

    def __init__(
        self, folder: str | os.PathLike[str], pets: dict[str, Any], *, units: str | None = None
    ) -> None:
        from carpet.ingest import read_pet
        from carpet.ingest.nifti import read_nifti

        from carpet.pipeline import SOURCE_NAME, read_source_record

        self.folder = Path(folder)
        pets = dict(pets)
        unit_of: dict[str, str | None] = {}
        option = {"baseline": "--pet", "followup": "--pet-followup"}
        for t in TIMEPOINTS:
            unit_of[t] = units
            if pets.get(t) is not None:
                if not Path(pets[t]).exists():
                    raise InputError(
                        f"{option[t]} {pets[t]}: no such file or folder", code="PET_NOT_FOUND"
                    )
                continue
            record = read_source_record(self.folder / t)
            if record is None:
                raise InputError(
                    f"{self.folder / t}: no {SOURCE_NAME} records where the {t} PET is; give the "
                    "PET of each time point with --pet BASELINE_PET --pet-followup FOLLOWUP_PET",
                    code="PET_NOT_GIVEN",
                )
            if not Path(record["pet_path"]).exists():
                raise InputError(
                    f"{self.folder / t / SOURCE_NAME}: the recorded {t} PET {record['pet_path']} does "
                    f"not exist (moved or deleted?); give its new place with {option[t]} PATH",
                    code="PET_NOT_FOUND",
                )
            pets[t] = record["pet_path"]
            if units is None:
                unit_of[t] = record.get("units")
        matches_path = self.folder / "lesion_matches.csv"
        matches = pd.read_csv(matches_path) if matches_path.is_file() else pd.DataFrame()
        nb, nf = match_numbers(matches) if len(matches) else ({}, {})
        self.timepoints: dict[str, _Timepoint] = {}
        for name, numbers in zip(TIMEPOINTS, (nb, nf), strict=True):
            d = self.folder / name
            patient = json.loads((d / "patient.json").read_text())
            lesions = pd.read_csv(d / "lesions.csv")
            study = read_pet(pets[name], units=unit_of[name])
            _check_series(patient, study, str(pets[name]), d)
            labels = read_nifti(d / "mask.nii.gz", unit=Unit.LABEL)
            study.suv.check_same_grid(labels, what=f"{d / 'mask.nii.gz'}")
            lab = np.asarray(labels.array).astype(np.int32)
            self.timepoints[name] = _Timepoint(
                name, patient, lesions, study.suv, coronal_mip(study.suv, lab), numbers
            )

    def compare(self) -> dict:
        """Both time points: totals, lesions with match numbers, MIP geometry."""
        out = []
        for name, tp in self.timepoints.items():
            rows = []
            for r in tp.lesions.to_dict("records"):
                lid = int(r["lesion_id"])
                idx = tp.suv.world_to_index(
                    [[r["centroid_x_mm"], r["centroid_y_mm"], r["centroid_z_mm"]]]
                )[0]
                rows.append(
                    {
                        "lesion_id": lid,
                        "match_number": tp.numbers.get(lid),
                        "volume_ml": float(r["volume_ml"]),
                        "suv_max": float(r["suv_max"]),
                        "suv_peak": float(r["suv_peak"]),
                        "mip_px": list(tp.mip.index_to_pixel(idx)),
                    }
                )
            keys = ("tmtv_ml", "tlg", "suv_max", "suv_peak", "lesion_count", "dmax_mm")
            w, h = tp.mip.size
            out.append(
                {
                    "name": name,
                    "patient": {k: tp.patient.get(k) for k in keys},
                    "lesions": rows,
                    "mip": {"width": w, "height": h, "pixel_mm": list(tp.mip.pixel_mm)},
                }
            )
        return {"timepoints": out}

    def compare_mip_png(self, name: str) -> bytes:
        """MIP picture of one time point."""
        tp = self.timepoints.get(name)
        if tp is None:
            raise InputError(
                f"no time point {name!r}; expected one of {list(TIMEPOINTS)}",
                code="NO_SUCH_TIMEPOINT",
            )
        return tp.mip.render_png({int(i): "auto" for i in tp.lesions["lesion_id"]})
