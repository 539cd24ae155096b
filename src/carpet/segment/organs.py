"""Organ label maps given by the user (``--organs``): names and grid.

An organ map is an integer label volume (NIfTI, e.g. a TotalSegmentator or MOOSE
output) with label names from, in order: the Volume's ``meta["labels"]``
(name -> value, as :mod:`carpet.synthetic` writes), a sidecar JSON next to the
file (``organs.nii.gz`` -> ``organs.json``: ``{"1": "spleen", ...}`` or
``{"spleen": 1, ...}``), or the TotalSegmentator v2 ``total`` task numbering for
the physiological organs (brain 90, urinary_bladder 21, kidneys 2/3, heart 51).
Reading files happens in :mod:`carpet.pipeline` (via :mod:`carpet.ingest`); this
module only interprets the names.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from carpet.core.volume import Volume
from carpet.errors import InputError

__all__ = ["TOTALSEGMENTATOR_PHYSIO", "organ_names_for"]

#: TotalSegmentator v2 ``total`` label values of the physiological organs carpet removes.
TOTALSEGMENTATOR_PHYSIO: dict[int, str] = {
    2: "kidney_right",
    3: "kidney_left",
    21: "urinary_bladder",
    51: "heart",
    90: "brain",
}


def organ_names_for(
    organs: Volume, path: str | os.PathLike[str] | None = None
) -> tuple[dict[int, str], str]:
    """Label value -> organ name of an organ map, and where the names came from.

    Examples
    --------
    >>> import numpy as np
    >>> v = Volume(np.zeros((2, 2, 2), np.uint8), np.eye(4), meta={"labels": {"brain": 2, "bladder": 9}})
    >>> organ_names_for(v)
    ({2: 'brain', 9: 'bladder'}, 'volume metadata')
    """
    labels = organs.meta.get("labels") or organs.meta.get("label_names")
    if isinstance(labels, dict) and labels:
        return _normalise(labels, "volume metadata"), "volume metadata"
    if path is not None:
        p = Path(path)
        stem = p.name[:-7] if p.name.endswith(".nii.gz") else p.stem
        side = p.with_name(stem + ".json")
        if side.is_file():
            try:
                obj = json.loads(side.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise InputError(
                    f"organ label names {side} are not valid JSON: {exc}",
                    code="ORGAN_NAMES_INVALID",
                ) from None
            if not isinstance(obj, dict):
                raise InputError(
                    f"organ label names {side} must be a JSON object", code="ORGAN_NAMES_INVALID"
                )
            return _normalise(obj, str(side)), str(side)
    return dict(TOTALSEGMENTATOR_PHYSIO), "TotalSegmentator v2 'total' numbering (no names given)"


def _normalise(mapping: dict, source: str) -> dict[int, str]:
    out: dict[int, str] = {}
    for k, v in mapping.items():
        try:
            if isinstance(v, str):
                out[int(k)] = v
            else:
                out[int(v)] = str(k)
        except (TypeError, ValueError):
            raise InputError(
                f"organ label names in {source}: cannot read entry {k!r}: {v!r}",
                code="ORGAN_NAMES_INVALID",
            ) from None
    return out
