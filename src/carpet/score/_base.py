"""Shared plumbing of the score modules: provenance record and input coercion.

Every score module exposes ``INFO`` (a :class:`ScoreInfo`) and one ``compute_*``
function that is vectorised: it accepts scalars or array-likes (one value per
patient) and returns a :class:`pandas.DataFrame` with one row per patient. A
missing input (NaN/None) gives a missing score (NaN points, ``None`` group); scores
never guess.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd

from carpet.errors import InputError

__all__ = ["ScoreInfo", "as_float_array", "broadcast", "group_labels", "points_frame"]


@dataclasses.dataclass(frozen=True)
class ScoreInfo:
    """What a score is, where it comes from and how far its rules were verified.

    Attributes
    ----------
    name : str
        Column prefix of the score (``ipi``, ``nccn_ipi`` ...).
    title : str
        Human-readable name.
    reference : str
        Primary publication.
    verified : bool
        ``True`` only when every rule was read in a primary or confirmed source
        (methods.md tag [C]). ``False`` when any rule is [S] or [U].
    unverified_rules : tuple of str
        The rules that could not be verified; reported next to the score in every output.
    """

    name: str
    title: str
    reference: str
    verified: bool
    unverified_rules: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """JSON-able form for results.json."""
        return dataclasses.asdict(self) | {"unverified_rules": list(self.unverified_rules)}


def as_float_array(values: object, name: str) -> np.ndarray:
    """1-D float array from a scalar or array-like; ``None`` becomes NaN.

    Raises
    ------
    InputError
        If a value is not numeric (code ``SCORE_INPUT``).
    """
    arr = np.atleast_1d(np.asarray(values, dtype=object))
    out = np.empty(arr.shape, dtype=float)
    for k, v in enumerate(arr.ravel()):
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT:
            out.flat[k] = np.nan
            continue
        try:
            out.flat[k] = float(v)
        except (TypeError, ValueError):
            raise InputError(
                f"score input {name!r}: value {v!r} (position {k}) is not a number",
                code="SCORE_INPUT",
            ) from None
    return out.ravel()


def group_labels(points: np.ndarray, bins: Sequence[tuple[float, float, str]]) -> list[str | None]:
    """Map points to labels by inclusive ``(low, high, label)`` bins; NaN gives ``None``."""
    labels: list[str | None] = []
    for p in points:
        label = None
        if not np.isnan(p):
            for lo, hi, name in bins:
                if lo <= p <= hi:
                    label = name
                    break
        labels.append(label)
    return labels


def broadcast(*arrays: np.ndarray) -> list[np.ndarray]:
    """Broadcast 1-D inputs of length 1 or n to a common length n."""
    try:
        return [np.asarray(a, dtype=float) for a in np.broadcast_arrays(*arrays)]
    except ValueError:
        lengths = [len(a) for a in arrays]
        raise InputError(
            f"score inputs have different lengths {lengths}; expected one value per patient",
            code="SCORE_INPUT",
        ) from None


def points_frame(
    name: str, points: np.ndarray, groups: list[str | None] | None, **extra: object
) -> pd.DataFrame:
    """Tidy per-patient output with ``<name>_points`` and ``<name>_group`` columns."""
    data: dict[str, object] = {f"{name}_points": points}
    if groups is not None:
        data[f"{name}_group"] = groups
    data.update(extra)
    return pd.DataFrame(data)
