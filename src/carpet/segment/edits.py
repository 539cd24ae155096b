"""Reproducible reader edits applied on top of the automatic segmentation.

The edits file (written by hand or by the review page)::

    {"version": 1, "actions": [
      {"action": "remove", "lesion_id": 3},
      {"action": "restore", "lesion_id": 3},
      {"action": "remove_at", "point_mm": [x, y, z]},
      {"action": "physiological", "lesion_id": 5},
      {"action": "add", "point_mm": [x, y, z], "method": "suv4"},
      {"action": "set_method", "method": "pct41"},
      {"action": "flag", "flag": "spleen_involved", "value": true}
    ]}

Actions apply in order. Lesion ids are stable: automatic ids stay, an added
lesion gets (largest id ever used) + 1, a removed lesion leaves the mask and the
lesion table but its id is never reused. Points are DICOM LPS mm. Every action is
validated before any is applied (unknown action, lesion id, method, flag, point
outside the scan), with a :class:`~carpet.errors.SegmentationError` or
:class:`~carpet.errors.ConfigError` naming the action's position.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from carpet.config import SEGMENTATION_METHODS
from carpet.core.volume import Volume
from carpet.errors import ConfigError, InputError, SegmentationError
from carpet.segment.methods import GrowthParams, Seed, grow_lesions, seed_at_point
from carpet.segment.physio import EXCLUDED_CODES

__all__ = [
    "EDIT_ACTIONS",
    "READER_FLAGS",
    "Segmentation",
    "apply_edits",
    "load_edits",
    "validate_edits",
]

EDIT_ACTIONS = ("remove", "restore", "remove_at", "physiological", "add", "set_method", "flag")
READER_FLAGS = ("spleen_involved", "marrow_involved")


@dataclasses.dataclass(frozen=True)
class Segmentation:
    """State of a segmentation: label map, seeds, exclusions and reader state.

    Attributes
    ----------
    labels : ndarray of int32
        Lesion id per voxel (0 = none).
    excluded : ndarray of uint8
        :data:`carpet.segment.physio.EXCLUDED_CODES` of removed physiological uptake.
    seeds : dict of int -> Seed
        Seed of every lesion ever present (removed ones included, for ``restore``).
    method : str
        Current segmentation method.
    thresholds : dict of int -> float
        SUV threshold used per lesion.
    lesion_methods : dict of int -> str
        Method used per lesion.
    removed : dict of int -> str
        Removed lesion ids and why (``"reader"`` or ``"physiological"``).
    flags : dict of str -> bool
        Reader flags (spleen_involved, marrow_involved).
    max_id : int
        Largest lesion id ever used.
    boxes : dict of int -> tuple of 3 slices, optional
        Box enclosing each lesion's voxels (a hint: lesions are found inside it
        instead of scanning the whole label map; may be larger than the lesion).
    stash : dict of int -> (box, mask), optional
        Voxels of lesions removed by earlier ``apply_edits`` calls, so that a
        ``restore`` in a later call gives back exactly those voxels, as within
        one call (without it the lesion is grown again from its seed).
    """

    labels: np.ndarray
    excluded: np.ndarray
    seeds: dict[int, Seed]
    method: str
    thresholds: dict[int, float]
    lesion_methods: dict[int, str]
    removed: dict[int, str] = dataclasses.field(default_factory=dict)
    flags: dict[str, bool] = dataclasses.field(default_factory=dict)
    max_id: int = 0
    boxes: dict | None = dataclasses.field(default=None, repr=False, compare=False)
    stash: dict | None = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def lesion_ids(self) -> list[int]:
        """Ids of the lesions present (not removed)."""
        return sorted(i for i in self.seeds if i not in self.removed)

    def box_of(self, lesion_id: int) -> tuple[slice, slice, slice] | None:
        """Tight bounding box of a lesion's voxels (None when it has none).

        Searches only the lesion's box hint (:attr:`boxes`) when there is one.
        """
        return _tight_box(self.labels, lesion_id, (self.boxes or {}).get(lesion_id))


Box = tuple[slice, slice, slice]


def _tight_box(labels: np.ndarray, lid: int, hint: Box | None = None) -> Box | None:
    """Bounding box of ``labels == lid`` searched within ``hint`` (whole map when None)."""
    hint = hint or tuple(slice(0, n) for n in labels.shape)
    m = labels[hint] == lid
    ks = np.flatnonzero(m.any(axis=(1, 2)))
    if ks.size == 0:
        return None
    sub = m[ks[0] : ks[-1] + 1]
    js = np.flatnonzero(sub.any(axis=(0, 2)))
    is_ = np.flatnonzero(sub.any(axis=(0, 1)))
    o = [b.start for b in hint]
    return (
        slice(o[0] + int(ks[0]), o[0] + int(ks[-1]) + 1),
        slice(o[1] + int(js[0]), o[1] + int(js[-1]) + 1),
        slice(o[2] + int(is_[0]), o[2] + int(is_[-1]) + 1),
    )


class _Blocked:
    """Lazy mask ``labels != 0 | excluded != 0``: only the boxes indexed are computed.

    Growth (:func:`carpet.segment.methods.grow_lesions`, ``seed_at_point``) reads
    its ``forbidden`` mask box by box, so an edit never builds a whole-scan mask.
    """

    def __init__(self, labels: np.ndarray | None, excluded: np.ndarray | None) -> None:
        self.labels, self.excluded = labels, excluded
        ref = labels if labels is not None else excluded
        assert ref is not None
        self.shape = ref.shape

    def __getitem__(self, key: Any) -> np.ndarray:
        out = None if self.labels is None else self.labels[key] != 0
        if self.excluded is not None:
            e = self.excluded[key] != 0
            out = e if out is None else (out | e)
        return out


def load_edits(path: str | os.PathLike[str]) -> list[dict]:
    """Read and validate an edits JSON file; returns the list of actions."""
    p = Path(path)
    try:
        obj = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"edits file {p} not found", code="EDITS_NOT_FOUND") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(
            f"edits file {p} is not valid JSON: {exc}", code="EDITS_NOT_JSON"
        ) from None
    return validate_edits(obj, source=str(p))


def _err(source: str, i: int, msg: str, code: str) -> ConfigError:
    return ConfigError(f"{source}: action #{i + 1}: {msg}", code=code)


def validate_edits(obj: Any, *, source: str = "edits") -> list[dict]:
    """Check the structure of an edits document (dict with ``actions`` or a list).

    Returns
    -------
    list of dict
        The actions, normalised (points as 3 floats).

    Examples
    --------
    >>> validate_edits({"version": 1, "actions": [{"action": "remove", "lesion_id": 2}]})
    [{'action': 'remove', 'lesion_id': 2}]
    >>> validate_edits([{"action": "explode"}])
    Traceback (most recent call last):
    ...
    carpet.errors.ConfigError: edits: action #1: unknown action 'explode'; expected one of ['remove', 'restore', 'remove_at', 'physiological', 'add', 'set_method', 'flag']
    """
    if isinstance(obj, dict):
        version = obj.get("version", 1)
        if version != 1:
            raise ConfigError(
                f"{source}: unsupported edits version {version!r}; expected 1", code="EDITS_VERSION"
            )
        actions = obj.get("actions")
    else:
        actions = obj
    if not isinstance(actions, list):
        raise ConfigError(
            f'{source}: expected a list of actions (or {{"version": 1, "actions": [...]}})',
            code="EDITS_INVALID",
        )
    out = []
    for i, a in enumerate(actions):
        if not isinstance(a, dict) or "action" not in a:
            raise _err(
                source,
                i,
                f"each action must be an object with an 'action' key; got {a!r}",
                "EDITS_INVALID",
            )
        kind = a["action"]
        if kind not in EDIT_ACTIONS:
            raise _err(
                source,
                i,
                f"unknown action {kind!r}; expected one of {list(EDIT_ACTIONS)}",
                "UNKNOWN_ACTION",
            )
        b = dict(a)
        if kind in ("remove", "restore", "physiological"):
            lid = a.get("lesion_id")
            if isinstance(lid, bool) or not isinstance(lid, int) or lid < 1:
                raise _err(
                    source,
                    i,
                    f"{kind} needs an integer lesion_id >= 1; got {lid!r}",
                    "EDITS_INVALID",
                )
        if kind in ("remove_at", "add"):
            pt = a.get("point_mm")
            try:
                vals = [float(v) for v in pt]  # type: ignore[union-attr]
            except (TypeError, ValueError):
                vals = []
            if len(vals) != 3 or not all(np.isfinite(vals)):
                raise _err(
                    source,
                    i,
                    f"{kind} needs point_mm = [x, y, z] in LPS mm; got {pt!r}",
                    "EDITS_INVALID",
                )
            b["point_mm"] = vals
        if kind in ("add", "set_method"):
            m = a.get("method", "suv4" if kind == "add" else None)
            if m not in SEGMENTATION_METHODS:
                raise _err(
                    source,
                    i,
                    f"unknown method {m!r}; expected one of {list(SEGMENTATION_METHODS)}",
                    "UNKNOWN_METHOD",
                )
            b["method"] = m
        if kind == "flag":
            if a.get("flag") not in READER_FLAGS:
                raise _err(
                    source,
                    i,
                    f"unknown flag {a.get('flag')!r}; expected one of {list(READER_FLAGS)}",
                    "UNKNOWN_FLAG",
                )
            if not isinstance(a.get("value", True), bool):
                raise _err(
                    source,
                    i,
                    f"flag value must be true or false; got {a.get('value')!r}",
                    "EDITS_INVALID",
                )
            b["value"] = a.get("value", True)
        out.append(b)
    return out


def _point_index(suv: Volume, point_mm: list[float], i: int) -> tuple[int, int, int]:
    idx = np.rint(suv.world_to_index([point_mm])[0]).astype(int)
    if np.any(idx < 0) or np.any(idx >= np.array(suv.shape)):
        raise SegmentationError(
            f"edits: action #{i + 1}: point {point_mm} mm (LPS) is outside the scan "
            f"(voxel {idx.tolist()}, grid {list(suv.shape)})",
            code="POINT_OUTSIDE_VOLUME",
        )
    return tuple(int(v) for v in idx)  # type: ignore[return-value]


def apply_edits(
    auto: Segmentation,
    actions: list[dict],
    *,
    suv: Volume,
    params: GrowthParams,
    inplace: bool = False,
    changes: dict | None = None,
) -> tuple[Segmentation, list[dict]]:
    """Apply reader edits in order on top of a segmentation.

    Parameters
    ----------
    auto : Segmentation
        The automatic (or previously edited) segmentation; not modified unless ``inplace``.
    actions : list of dict
        Actions (see module docstring); validated here.
    suv : Volume
        The SUV volume the segmentation is on.
    params : GrowthParams
        Thresholds for added lesions and ``set_method``.
    inplace : bool
        Modify ``auto.labels`` and ``auto.excluded`` in place (the result shares
        them) instead of copying them; for callers that keep their own copy and
        undo with ``changes["undo"]``. Only the boxes an action touches are written.
    changes : dict, optional
        Filled with ``"lesions"`` (set of ids whose voxels were set: added,
        restored, re-segmented), ``"boxes"`` (list of boxes where labels or
        exclusions changed) and ``"undo"`` (list of ``(box, labels_before,
        excluded_before)`` crops, in order; writing them back in reverse order
        undoes the call).

    Returns
    -------
    (Segmentation, list of dict)
        The edited segmentation and one record per action describing its effect.

    Notes
    -----
    Every action works inside the bounding box of the voxels it changes
    (growth reads the occupied/excluded masks box by box), so its cost does not
    grow with the size of the scan; the only whole-scan work is ``set_method``
    and, without ``inplace``, one copy of the two arrays at the first change.
    """
    actions = validate_edits(actions)
    arr = suv.array
    sp = suv.spacing_mm
    labels = auto.labels
    excluded = auto.excluded
    owned = inplace
    seeds = dict(auto.seeds)
    thresholds = dict(auto.thresholds)
    lmethods = dict(auto.lesion_methods)
    removed = dict(auto.removed)
    flags = dict(auto.flags)
    boxes: dict = dict(auto.boxes or {})
    method = auto.method
    max_id = max([auto.max_id, *seeds]) if seeds else auto.max_id
    stash: dict[int, tuple[tuple[slice, slice, slice], np.ndarray]] = dict(auto.stash or {})
    v_ml = suv.voxel_volume_ml
    effects = []
    ch = changes if changes is not None else {}
    ch.setdefault("lesions", set())
    ch.setdefault("boxes", [])
    undo = ch.setdefault("undo", []) if changes is not None else None
    whole = tuple(slice(0, n) for n in labels.shape)

    def touch(box: Box) -> None:
        """Before writing inside ``box``: own the arrays, remember the old crops."""
        nonlocal labels, excluded, owned
        if not owned:
            labels, excluded, owned = labels.copy(), excluded.copy(), True
        if undo is not None:
            undo.append((box, labels[box].copy(), excluded[box].copy()))
        ch["boxes"].append(box)

    def present(lid: int, i: int, kind: str) -> None:
        if lid not in seeds:
            raise SegmentationError(
                f"edits: action #{i + 1} ({kind}): unknown lesion_id {lid}; known ids: {sorted(seeds)}",
                code="UNKNOWN_LESION_ID",
            )
        if lid in removed:
            raise SegmentationError(
                f"edits: action #{i + 1} ({kind}): lesion {lid} is already removed",
                code="LESION_ALREADY_REMOVED",
            )

    def take_out(lid: int, physiological: bool = False) -> float:
        box = _tight_box(labels, lid, boxes.get(lid))
        if box is None:
            stash[lid] = ((slice(0, 0),) * 3, np.zeros((0, 0, 0), bool))
            return 0.0
        m = labels[box] == lid
        stash[lid] = (box, m)
        touch(box)
        labels[box][m] = 0
        if physiological:
            excluded[box][m] = EXCLUDED_CODES["reader"]
        return float(m.sum() * v_ml)

    def put(lid: int, grown: np.ndarray, box: Box) -> np.ndarray:
        """Write a lesion grown into its own box (``grown[box] == lid``) into the label map."""
        new = grown[box] == lid
        touch(box)
        labels[box][new] = lid
        boxes[lid] = box
        ch["lesions"].add(lid)
        return new

    for i, a in enumerate(actions):
        kind = a["action"]
        if kind in ("remove", "physiological"):
            lid = a["lesion_id"]
            present(lid, i, kind)
            vol = take_out(lid, physiological=kind == "physiological")
            removed[lid] = "reader" if kind == "remove" else "physiological"
            effects.append({**a, "effect": f"removed lesion {lid} ({vol:.2f} mL)"})
        elif kind == "remove_at":
            idx = _point_index(suv, a["point_mm"], i)
            lid = int(labels[idx])
            if lid == 0:
                raise SegmentationError(
                    f"edits: action #{i + 1} (remove_at): no lesion at {a['point_mm']} mm (voxel {list(idx)})",
                    code="NO_LESION_AT_POINT",
                )
            vol = take_out(lid)
            removed[lid] = "reader"
            effects.append(
                {**a, "lesion_id": lid, "effect": f"removed lesion {lid} ({vol:.2f} mL)"}
            )
        elif kind == "restore":
            lid = a["lesion_id"]
            if lid not in seeds:
                raise SegmentationError(
                    f"edits: action #{i + 1} (restore): unknown lesion_id {lid}; known ids: {sorted(seeds)}",
                    code="UNKNOWN_LESION_ID",
                )
            if lid not in removed:
                raise SegmentationError(
                    f"edits: action #{i + 1} (restore): lesion {lid} is not removed",
                    code="LESION_NOT_REMOVED",
                )
            if lid in stash:
                box, m = stash.pop(lid)
                free = m & (labels[box] == 0)
                if m.size:
                    touch(box)
                    labels[box][free] = lid
                    if removed[lid] == "physiological":
                        excluded[box][m & (excluded[box] == EXCLUDED_CODES["reader"])] = 0
                    boxes[lid] = box
                    ch["lesions"].add(lid)
                vol = float(free.sum() * v_ml)
            else:  # removed before the stash was kept: grow it again from its seed
                grown_box: dict = {}
                grown, th = grow_lesions(
                    arr,
                    {lid: seeds[lid]},
                    method=lmethods.get(lid, method),
                    params=params,
                    spacing_mm=sp,
                    forbidden=_Blocked(labels, excluded),
                    boxes_out=grown_box,
                )
                vol = 0.0
                if lid in grown_box:
                    vol = float(put(lid, grown, grown_box[lid]).sum() * v_ml)
                thresholds.update(th)
            del removed[lid]
            effects.append({**a, "effect": f"restored lesion {lid} ({vol:.2f} mL)"})
        elif kind == "add":
            idx = _point_index(suv, a["point_mm"], i)
            lid = max_id + 1
            # a click inside removed physiological uptake takes it back deliberately; a click
            # elsewhere never grows into it
            in_organ = excluded[idx] != 0
            block = _Blocked(labels, None if in_organ else excluded)
            seed = seed_at_point(
                arr,
                idx,
                lid,
                spacing_mm=sp,
                connectivity=params.connectivity,
                forbidden=block,
            )
            grown_box = {}
            grown, th = grow_lesions(
                arr,
                {lid: seed},
                method=a["method"],
                params=params,
                spacing_mm=sp,
                forbidden=block,
                boxes_out=grown_box,
            )
            box = grown_box.get(lid)
            if box is None or not (grown[box] == lid).any():
                raise SegmentationError(
                    f"edits: action #{i + 1} (add): nothing to segment with {a['method']} at {a['point_mm']} mm "
                    f"(SUV there {float(arr[idx]):.2f}, threshold {th.get(lid, float('nan')):.2f})",
                    code="EMPTY_ADDED_LESION",
                )
            new = put(lid, grown, box)
            excluded[box][new] = 0
            seeds[lid] = seed
            thresholds[lid] = th[lid]
            lmethods[lid] = a["method"]
            max_id = lid
            vol = float(new.sum() * v_ml)
            effects.append({**a, "lesion_id": lid, "effect": f"added lesion {lid} ({vol:.2f} mL)"})
        elif kind == "set_method":
            method = a["method"]
            live = {lid: seeds[lid] for lid in seeds if lid not in removed}
            grown_boxes: dict = {}
            new_labels, th = grow_lesions(
                arr,
                live,
                method=method,
                params=params,
                spacing_mm=sp,
                forbidden=excluded != 0,
                boxes_out=grown_boxes,
            )
            if owned:
                touch(whole)
                labels[...] = new_labels
            else:
                labels, excluded, owned = new_labels, excluded.copy(), True
                ch["boxes"].append(whole)
            del new_labels
            boxes = {lid: grown_boxes[lid] for lid in live if lid in grown_boxes}
            thresholds.update(th)
            lmethods.update({lid: method for lid in live})
            ch["lesions"].update(live)
            stash.clear()
            effects.append({**a, "effect": f"re-segmented {len(live)} lesions with {method}"})
        elif kind == "flag":
            flags[a["flag"]] = bool(a["value"])
            effects.append({**a, "effect": f"{a['flag']} = {bool(a['value'])}"})
    if not owned:  # nothing was written: still never share the caller's arrays
        labels, excluded = labels.copy(), excluded.copy()
    out = Segmentation(
        labels, excluded, seeds, method, thresholds, lmethods, removed, flags, max_id, boxes, stash
    )
    return out, effects
