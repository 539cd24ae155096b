"""Read a carpet TID 1500 measurement report back into tables (inverse of :mod:`carpet.export.sr`)."""

from __future__ import annotations

import os
from typing import Any

from carpet.errors import InputError

__all__ = ["read_sr_measurements"]


def read_sr_measurements(
    path: str | os.PathLike[str],
) -> tuple[Any, dict[str, float], dict[int, int]]:
    """Lesion table, patient metrics and lesion→segment map of a carpet SR.

    Parameters
    ----------
    path : path
        SR file written by :func:`carpet.export.sr.write_sr`.

    Returns
    -------
    lesions : pandas.DataFrame
        ``lesion_id`` plus every coded column found (g/mL, mL, g).
    patient : dict
        Patient metrics found (mL, g, g/mL, mm).
    segments : dict
        lesion id → referenced segment number of the SEG.

    Raises
    ------
    InputError
        Not a measurement report.
    """
    import highdicom as hd
    import pandas as pd

    from carpet.export.seg import SEG_TRACKING_PREFIX
    from carpet.export.sr import _SUV, SR_MEASUREMENTS

    try:
        sr = hd.sr.srread(path)
        report = sr.content
        vol_groups = report.get_volumetric_roi_measurement_groups()
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        raise InputError(
            f"{path} is not a readable TID 1500 measurement report: {exc}", code="NOT_A_REPORT"
        ) from exc

    def _key(m: Any) -> tuple[str, str | None]:
        name = m.name.value
        deriv = m.derivation.value if m.derivation is not None else None
        return name, deriv

    def _lookup(kind: str) -> dict[tuple[str, str | None], str]:
        out = {}
        for col, c in SR_MEASUREMENTS[kind].items():
            names = (
                ["126401", "126402", "126403", "126404"] if c.concept == _SUV else [c.concept[0]]
            )
            for n in names:
                out[(n, c.derivation[0] if c.derivation else None)] = col
        return out

    lesion_map, patient_map = _lookup("lesion"), _lookup("patient")
    rows, segments = [], {}
    for g in vol_groups:
        tid = g.tracking_identifier
        if not tid or not str(tid).startswith(SEG_TRACKING_PREFIX):
            continue
        lid = int(str(tid)[len(SEG_TRACKING_PREFIX) :])
        row: dict[str, float] = {"lesion_id": lid}
        for m in g.get_measurements():
            col = lesion_map.get(_key(m))
            if col:
                row[col] = float(m.value)
        seg_ref = g.referenced_segment
        if seg_ref is not None:
            segments[lid] = int(seg_ref.referenced_segment_numbers[0])
        rows.append(row)
    patient: dict[str, float] = {}
    for g in report.get_image_measurement_groups():
        if str(g.tracking_identifier) != "patient":
            continue
        for m in g.get_measurements():
            col = patient_map.get(_key(m))
            if col:
                patient[col] = float(m.value)
    lesions = pd.DataFrame(rows)
    if len(lesions):
        lesions = lesions.sort_values("lesion_id").reset_index(drop=True)
    return lesions, patient, segments
