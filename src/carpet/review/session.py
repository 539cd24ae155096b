"""Review state: the automatic result, the reader's actions, undo/redo and saving.

The state after *n* actions is always ``carpet.segment.edits.apply_edits`` applied to
the automatic result of ``carpet.pipeline.analyze`` (the same code and the same
action format as ``carpet analyze --edits``), so the totals shown are the CLI's.
Each new action is applied to the previous state only, in place on one private
copy of the label and exclusion maps, inside the box it touches (the untouched
lesions keep their records, the touched one is re-measured); each state keeps the
crops it overwrote, so undo writes them back (instant) and redo re-applies the
undone action.

Saving writes ``DIR/edits.json`` and the reviewed ``patient.json``, ``lesions.csv``,
``mask.nii.gz`` (and MIP) of ``carpet.pipeline.write_analysis`` in one atomic
replacement of the folder; the automatic result is written once to ``DIR/auto/``
and never touched again, so ``carpet analyze SOURCE --edits DIR/edits.json``
reproduces the reviewed files.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from carpet._io import atomic_output_dir
from carpet.config import SEGMENTATION_METHODS
from carpet.core.volume import Volume
from carpet.errors import InputError, SegmentationError
from carpet.measure.columns import BIOMARKER_KEYS
from carpet.review.auditlog import AuditLog
from carpet.review.mip import CoronalMip, coronal_mip
from carpet.units import Unit

__all__ = ["EDITS_NAME", "AUTO_DIRNAME", "DISPLAY_MAX_VOXELS", "ReviewSession", "run_server"]

logger = logging.getLogger(__name__)

#: File of the reader's actions (the ``carpet analyze --edits`` format).
EDITS_NAME = "edits.json"
#: Sub-folder keeping the automatic result untouched.
AUTO_DIRNAME = "auto"
#: Largest volume sent to the slice viewer; bigger ones are subsampled for display
#: only (values under the cursor always come from the full-resolution SUV).
DISPLAY_MAX_VOXELS = 40_000_000
#: Memory the undo stack may keep in full states (older ones are rebuilt on demand).
UNDO_MEMORY_BYTES = 2 << 30
#: Actions that change which voxels are lesions (the others change statuses only).
_LABEL_ACTIONS = ("add", "set_method")  # (and restore: voxels come back)


@dataclass(frozen=True)
class _State:
    """The review state after some actions: segmentation, lesion records, patient totals.

    ``lesions`` holds the records of the present lesions (``measure_lesions`` rows,
    hull vertices included); a new state re-measures only lesions that are new or
    whose voxels an action changed, and recombines the patient metrics from the
    records (``patient_metrics``), as ``carpet analyze`` does.
    """

    seg: Any
    lesions: pd.DataFrame
    patient: dict
    touched: tuple[int, ...] = ()
    removed_here: frozenset[int] = frozenset()
    effect: dict = field(default_factory=dict)
    #: Bounding box of the voxels whose lesion id changed from the base state
    #: (None: anywhere, e.g. after set_method).
    changed_box: tuple[slice, slice, slice] | None = None
    #: Crops ``(box, labels, excluded)`` this state overwrote in the working maps
    #: (``apply_edits(..., changes=)["undo"]``); None when dropped to bound memory.
    undo: list | None = field(default=None, repr=False)
    #: Lesion ids whose voxels the action set (added, restored, re-segmented).
    changed_ids: frozenset[int] = frozenset()

    @property
    def undo_nbytes(self) -> int:
        """Memory held by the undo crops."""
        return sum(lab.nbytes + ex.nbytes for _, lab, ex in self.undo or ())

    @classmethod
    def after(
        cls,
        base: _State,
        seg: Any,
        effects: list[dict],
        *,
        suv: Volume,
        engine: ReviewSession,
        changes: dict | None = None,
    ) -> _State:
        from carpet.measure import measure_lesions

        present = seg.lesion_ids
        effect = effects[-1]
        kind = effect.get("action")
        set_method = any(e.get("action") == "set_method" for e in effects)
        have = set(int(i) for i in base.lesions["lesion_id"])
        changed_ids = set((changes or {}).get("lesions", ())) if changes is not None else None
        if set_method:
            remeasure = list(present)
        elif changed_ids is not None:
            remeasure = [i for i in present if i in changed_ids or i not in have]
        else:
            remeasure = [i for i in present if i not in have]
        table = base.lesions[base.lesions["lesion_id"].isin(present)]
        boxes = {lid: seg.box_of(lid) for lid in remeasure}
        boxes = {k: b for k, b in boxes.items() if b is not None}
        if set_method:
            changed = None
        elif changes is not None:
            changed = _union_box(list(changes.get("boxes", ())), seg.labels.shape)
        else:
            changed = _union_box(list(boxes.values()), seg.labels.shape)
        if remeasure:
            labels = Volume(seg.labels, suv.affine, unit=Unit.LABEL)
            fresh = measure_lesions(
                suv, labels, lesion_ids=sorted(boxes), boxes=boxes, **engine._measure_kwargs
            )
            table = table[~table["lesion_id"].isin(remeasure)]
            table = fresh if table.empty else pd.concat([table, fresh], ignore_index=True)
        table = table.sort_values("lesion_id").reset_index(drop=True)
        patient = engine._patient_from(table, seg)
        lid = effect.get("lesion_id")
        removed_here = (
            frozenset([lid])
            if kind in ("remove", "physiological", "remove_at") and lid
            else frozenset()
        )
        touched = tuple(remeasure) if kind in ("add", "restore") else ((lid,) if lid else ())
        undo = (changes or {}).get("undo")
        changed_set = frozenset(remeasure) | frozenset((changes or {}).get("lesions", ()))
        return cls(seg, table, patient, touched, removed_here, effect, changed, undo, changed_set)


class _DisplayLabels:
    """Lesions shown on the page, computed on demand for the boxes asked:
    the present lesions, plus the automatic extent of the removed ones."""

    def __init__(self, session: ReviewSession) -> None:
        self._session = session
        self.shape = session.suv.shape

    def __getitem__(self, key: Any) -> np.ndarray:
        cur = self._session.current.seg.labels
        auto = self._session.auto_state.seg.labels
        if cur is auto:
            return np.asarray(auto[key], dtype=np.int32)
        c = cur[key]
        return np.where(c > 0, c, auto[key]).astype(np.int32, copy=False)


def _union_box(boxes: list, shape: tuple[int, ...]) -> tuple[slice, slice, slice] | None:
    """Smallest box holding all ``boxes``; an empty box when there is none."""
    if not boxes:
        return (slice(0, 0), slice(0, 0), slice(0, 0))
    return tuple(
        slice(min(b[a].start for b in boxes), max(b[a].stop for b in boxes)) for a in range(3)
    )  # type: ignore[return-value]


def _json_safe(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return f if np.isfinite(f) else None
    return v


class ReviewSession:
    """Everything ``carpet review`` serves for one analysis folder.

    Use :meth:`open`; the server calls the query and action methods from several
    threads, all serialised by ``self.lock``.

    Parameters
    ----------
    folder : Path
        The analysis output folder.
    auto : AnalysisResult
        The automatic result (no edits), from :func:`carpet.pipeline.analyze`.
    source : str
        PET source given to ``analyze`` (recorded; never shown in the page title).
    ct : Volume or None
        CT for the fused view (HU, any grid).
    reader : str or None
        Reader name for the log (OS user when None).
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        auto: Any,
        *,
        study: Any = None,
        ct: Volume | None = None,
        reader: str | None = None,
        show_phi: bool = False,
    ) -> None:
        self.folder = Path(folder)
        self.auto = auto
        self.study = study
        self.suv: Volume = auto.suv
        self.ct = ct
        self.show_phi = show_phi
        self.lock = threading.RLock()
        self.log = AuditLog(self.folder, user=reader)
        self._params = auto.context["params"]
        self._measure_kwargs = {
            "peak_volume_ml": auto.config.peak_volume_ml,
            "peak_center": auto.config.peak_center,
        }
        self.auto_state = _State(auto.auto_segmentation, auto.lesions, dict(auto.patient))
        self.actions: list[dict] = []
        self._states: list[_State | None] = [self.auto_state]
        self._removed_ids: list[frozenset] = []  # lesion ids removed by each action
        self._redo: list[dict] = []
        self._saved_n: int | None = None  # number of actions in the last save (None: never saved)
        self._known_rows: dict[int, dict] = {}
        self._remember_rows(self.auto_state)
        self.method = str(auto.config.method)
        self.version = 0
        self.labels_version = 0
        #: Working label/exclusion maps, edited in place: a private copy of the automatic
        #: ones, made by a background thread while the reader looks at the page.
        self._work: tuple[np.ndarray, np.ndarray] | None = None
        self._work_ready = threading.Event()
        self._effects: list[dict] = []  # effect record of each action
        self._changed_ids: list[frozenset] = []  # lesion ids whose voxels each action set
        #: Lesions shown in the slice views and the MIP: present ones plus the automatic
        #: extent of removed ones (computed box by box, never stored whole).
        self._display_labels = _DisplayLabels(self)
        self.mip: CoronalMip = coronal_mip(
            self.suv, self.auto_state.seg.labels, np.asarray(auto.excluded.array)
        )
        self._nifti_cache: dict[tuple[str, int], bytes] = {}
        self.timings_s: dict[str, float] = {}
        threading.Thread(target=self._make_working, name="carpet-review-copy", daemon=True).start()
        self.source: str | None = None
        #: True when :meth:`open` rebuilt the automatic result from the folder's saved
        #: state (``carpet.pipeline.STATE_NAME``) instead of re-segmenting.
        self.resumed_from_state = False
        #: Largest volume sent to the slice views (bigger ones are subsampled for display only).
        self.display_max_voxels = DISPLAY_MAX_VOXELS

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(
        cls,
        folder: str | os.PathLike[str],
        *,
        pet: str | os.PathLike[str] | None = None,
        units: str | None = None,
        reader: str | None = None,
        show_phi: bool = False,
        with_ct: bool = True,
    ) -> ReviewSession:
        """Load an analysis folder: re-read its PET, rebuild the automatic result, resume saved edits.

        The automatic result comes from the folder's saved state
        (``analysis_state.npz``, in ``DIR/auto/`` once reviewed) when it matches the
        PET and this carpet version, else from re-running the analysis.

        Parameters
        ----------
        folder : path
            Output folder of ``carpet analyze`` (``patient.json`` required).
        pet : path, optional
            PET source overriding the one recorded in ``DIR/source.json`` (written by
            ``carpet analyze``); needed when that file is absent or the PET has moved.
        units : str, optional
            Units of a NIfTI PET (``"suv"``), as for ``carpet analyze --units``.
        reader : str, optional
            Reader name for the review log.
        show_phi : bool
            Allow patient identifiers on the page (never in URLs).
        with_ct : bool
            Load the CT of the same study for the fused view when there is one.

        Raises
        ------
        InputError
            ``NOT_AN_ANALYSIS`` when ``patient.json`` is missing or unreadable,
            ``PET_NOT_GIVEN`` when there is neither ``pet`` nor ``source.json``,
            ``PET_NOT_FOUND`` when the recorded PET source is gone and no ``pet``
            was given, ``PET_MISMATCH`` when the PET is not the analysed series, ``MASK_MISMATCH`` when the recomputed automatic result does
            not reproduce the folder's automatic lesions.
        """
        from carpet import pipeline
        from carpet.config import to_dict

        folder = Path(folder)
        patient = _read_patient_json(folder)
        source, units = _pet_source_and_units(patient, pet, folder, units)
        config = _config_from_patient(patient, folder)
        t0 = time.perf_counter()
        study = _read_pet(source, units)
        _check_series(patient, study, source, folder)
        t1 = time.perf_counter()
        auto = None
        state_dir = folder / AUTO_DIRNAME
        if not state_dir.is_dir() and not ((folder / EDITS_NAME).exists() or _has_edits(patient)):
            state_dir = folder  # an automatic folder: its own state
        if (state_dir / pipeline.STATE_NAME).is_file():
            auto = pipeline.resume_analysis(state_dir, study, units=units)
            if auto is not None and to_dict(auto.config) != to_dict(config):
                auto = None  # the state is not the recorded analysis
        resumed = auto is not None
        if auto is None:  # no (usable) saved state: re-segment
            auto = pipeline.analyze(study, config=config)
        t2 = time.perf_counter()
        _check_auto_matches(folder, auto)
        ct = None
        if with_ct:
            try:
                from carpet.ingest import read_ct_for

                ct = read_ct_for(study)
            except InputError as exc:  # no usable CT: PET alone
                logger.info("no CT for the fused view: %s", exc)
        session = cls(folder, auto, study=study, ct=ct, reader=reader, show_phi=show_phi)
        session.source = source
        session.resume_saved()
        session.resumed_from_state = resumed
        session.timings_s.update(
            {"read_pet": t1 - t0, "analyze_auto": t2 - t1, "open": time.perf_counter() - t0}
        )
        return session

    def resume_saved(self) -> None:
        """Start from the folder's saved review (``DIR/edits.json``), if any, as the saved state.

        The saved actions stay undoable; nothing is logged (they were logged when made).
        """
        from carpet.segment.edits import load_edits

        saved = self.folder / EDITS_NAME
        if not saved.exists():
            return
        with self.lock:
            actions = load_edits(saved)
            if actions:
                self._apply_many(actions, log=False)
            self._saved_n = len(self.actions)

    # ------------------------------------------------------------------ state helpers
    @property
    def current(self) -> _State:
        """The current state (automatic result + actions)."""
        st = self._states[-1]
        assert st is not None  # the last states are never dropped
        return st

    @property
    def dirty(self) -> bool:
        """True when there are actions that are not saved."""
        return self._saved_n != len(self.actions) and not (
            self._saved_n is None and not self.actions
        )

    def _remember_rows(self, state: _State) -> None:
        for row in state.lesions.to_dict("records"):
            self._known_rows[int(row["lesion_id"])] = row

    def _patient_from(self, table: pd.DataFrame, seg: Any) -> dict:
        """Patient totals of a lesion table (``patient_metrics``, as ``carpet analyze``)."""
        from carpet.measure import patient_metrics

        bsa = (self.auto.patient.get("patient") or {}).get("bsa_m2")
        out = dict(self.auto.patient)
        out.update(patient_metrics(table, bsa_m2=bsa, bsa_formula=self.auto.config.bsa_formula))
        out["flags"] = {
            f: bool(seg.flags.get(f, False)) for f in ("spleen_involved", "marrow_involved")
        }
        out["method"] = seg.method
        return out

    # ------------------------------------------------------------------ queries (server)
    def summary(self) -> dict:
        """Patient totals and page state (``GET /api/summary``, without the CSRF token)."""
        with self.lock:
            p = self.current.patient
            keys = (*BIOMARKER_KEYS, "dmax_voxel_mm", "liver_suv_mean", "mbp_suv_mean", "flags")
            patient = {k: _json_safe(p.get(k)) for k in keys if k in p}
            return {
                "patient": patient,
                "method": self.method,
                "methods": list(SEGMENTATION_METHODS),
                "n_actions": len(self.actions),
                "can_undo": bool(self.actions),
                "can_redo": bool(self._redo),
                "dirty": self.dirty,
                "saved": self._saved_n is not None,
                "has_ct": self.ct is not None,
                "version": self.version,
                "labels_version": self.labels_version,
            }

    def lesions(self) -> list[dict]:
        """Every lesion known to the review with its status (``GET /api/lesions``).

        Status: ``auto`` / ``added`` for present lesions, ``removed`` /
        ``physiological`` for lesions the reader took out (they can be restored).
        """
        with self.lock:
            seg = self.current.seg
            present = {int(r["lesion_id"]): r for r in self.current.lesions.to_dict("records")}
            out = []
            for lid in sorted(set(self._known_rows) | set(present)):
                row = present.get(lid, self._known_rows[lid])
                if lid in present:
                    status = seg.seeds[lid].origin if lid in seg.seeds else "auto"
                elif lid in seg.removed:
                    status = "physiological" if seg.removed[lid] == "physiological" else "removed"
                else:
                    continue  # an added lesion that was undone
                c = [
                    float(row["centroid_x_mm"]),
                    float(row["centroid_y_mm"]),
                    float(row["centroid_z_mm"]),
                ]
                idx = self.suv.world_to_index([c])[0]
                out.append(
                    {
                        "lesion_id": lid,
                        "volume_ml": _json_safe(row["volume_ml"]),
                        "suv_max": _json_safe(row["suv_max"]),
                        "suv_peak": _json_safe(row.get("suv_peak")),
                        "suv_mean": _json_safe(row.get("suv_mean")),
                        "tlg": _json_safe(row.get("tlg")),
                        "status": status,
                        "centroid_mm": c,
                        "max_mm": [
                            float(row["max_x_mm"]),
                            float(row["max_y_mm"]),
                            float(row["max_z_mm"]),
                        ],
                        "mip_px": list(self.mip.index_to_pixel(idx)),
                    }
                )
            return out

    def mip_info(self) -> dict:
        """Size and pixel spacing of the MIP picture."""
        w, h = self.mip.size
        return {"width": w, "height": h, "pixel_mm": list(self.mip.pixel_mm), "suv_window": 10.0}

    def mip_png(self) -> bytes:
        """The coronal MIP, lesions coloured by status."""
        with self.lock:
            status = {r["lesion_id"]: r["status"] for r in self.lesions()}
            return self.mip.render_png(status)

    def pick(self, column: int, row: int) -> dict:
        """Lesion at the hottest voxel along the ray of MIP pixel (column, row)."""
        w, h = self.mip.size
        if not (0 <= column < w and 0 <= row < h):
            raise InputError(
                f"MIP pixel ({column}, {row}) is outside the picture of {w}×{h} pixels",
                code="OUTSIDE_MIP",
            )
        with self.lock:
            lid, idx = self.mip.pick(column, row)
            point = self.suv.index_to_world([idx])[0]
            return {
                "lesion_id": lid or None,
                "index": list(idx),
                "point_mm": [float(v) for v in point],
                "suv": float(self.suv.array[idx]),
            }

    def probe(self, point_mm: list[float]) -> dict:
        """SUV (full resolution) and lesion id at an LPS point."""
        idx = np.rint(self.suv.world_to_index([point_mm])[0]).astype(int)
        if np.any(idx < 0) or np.any(idx >= np.array(self.suv.shape)):
            raise InputError(
                f"point {list(point_mm)} mm (LPS) is outside the PET volume",
                code="POINT_OUTSIDE_VOLUME",
            )
        k, j, i = (int(v) for v in idx)
        with self.lock:
            lid = int(self.current.seg.labels[k, j, i])
        return {
            "point_mm": list(point_mm),
            "index": [k, j, i],
            "suv": float(self.suv.array[k, j, i]),
            "lesion_id": lid or None,
        }

    def volume_nifti(self, name: str) -> bytes:
        """NIfTI-1 bytes of ``pet.nii``, ``ct.nii`` or ``labels.nii`` for the slice views.

        Volumes with more than :attr:`display_max_voxels` voxels are subsampled for
        display only; values under the cursor come from :meth:`probe`.
        """
        with self.lock:
            version = self.labels_version if name == "labels.nii" else 0
            key = (name, version)
            if key in self._nifti_cache:
                return self._nifti_cache[key]
            if name == "pet.nii":
                vol = self.suv.with_array(self.suv.array.astype(np.float32, copy=False))
            elif name == "ct.nii" and self.ct is not None:
                hu = np.clip(np.rint(self.ct.array), -32768, 32767).astype(np.int16)
                vol = self.ct.with_array(hu)
            elif name == "labels.nii":
                lab = self._display_labels[(slice(None),) * 3]
                dtype = np.int16 if lab.max(initial=0) < 32768 else np.int32
                vol = Volume(lab.astype(dtype), self.suv.affine, unit=Unit.LABEL)
                for k in [k for k in self._nifti_cache if k[0] == name]:
                    del self._nifti_cache[k]
            else:
                raise InputError(
                    f"no volume {name!r}; expected pet.nii, labels.nii or ct.nii",
                    code="NO_SUCH_VOLUME",
                )
            self._nifti_cache[key] = _nifti_bytes(_display(vol, self.display_max_voxels))
            return self._nifti_cache[key]

    # ------------------------------------------------------------------ actions (server)
    def apply(self, actions: list[dict]) -> dict:
        """Apply reader actions (all or none) and return the new summary (``POST /api/edits``)."""
        if not isinstance(actions, list) or not all(isinstance(a, dict) for a in actions):
            raise InputError("actions must be a JSON list of objects", code="BAD_ACTIONS")
        with self.lock:
            self._apply_many(actions, log=True)
            self._redo.clear()
            return self.summary()

    def _apply_many(self, actions: list[dict], *, log: bool) -> None:
        """Apply actions one by one on the current state; commit only if all succeed."""
        from carpet.segment.edits import validate_edits

        actions = validate_edits(actions, source="review")
        pending: list[_State] = []
        try:
            for action in actions:
                t0 = time.perf_counter()
                state = self._next_state(pending[-1] if pending else self.current, action)
                self.timings_s["last_edit"] = time.perf_counter() - t0
                pending.append(state)
        except Exception:
            for st in reversed(pending):  # all or none: the working maps go back
                self._revert(st.undo or [])
            raise
        new = list(zip(actions, pending, strict=True))
        before = float(self.current.patient["tmtv_ml"])
        for action, st in new:
            self.actions.append(action)
            self._states.append(st)
            self._removed_ids.append(st.removed_here)
            self._effects.append(st.effect)
            self._changed_ids.append(st.changed_ids)
            self._remember_rows(st)
            if action["action"] == "set_method":
                self.method = str(action["method"])
            after = float(st.patient["tmtv_ml"])
            if log:
                self.log.append(
                    dict(action),
                    tmtv_ml_before=before,
                    tmtv_ml_after=after,
                    lesion_id=st.touched[0] if len(st.touched) == 1 else None,
                )
            before = after
        self._after_change(actions, [st for _, st in new])
        self._trim_states()

    def _trim_states(self) -> None:
        """Bound the memory of the undo stack.

        Each state keeps the crops its action overwrote (small, except after
        ``set_method``); beyond :data:`UNDO_MEMORY_BYTES` the oldest states (never
        the automatic one, nor the last two) are dropped and rebuilt on demand by
        replaying the actions in one ``apply_edits`` call.
        """
        total = 0
        for i in range(len(self._states) - 1, 0, -1):
            st = self._states[i]
            if st is None:
                continue
            total += st.undo_nbytes + 1
            if total > UNDO_MEMORY_BYTES and i < len(self._states) - 2:
                self._states[i] = None

    def _make_working(self) -> None:
        """Copy the automatic maps once (numpy copies release the GIL: runs in the background)."""
        try:
            if self._work is None:
                auto = self.auto_state.seg
                work = (auto.labels.copy(), auto.excluded.copy())
                if self._work is None:
                    self._work = work
        finally:
            self._work_ready.set()

    def _working(self, seg: Any) -> Any:
        """``seg`` bound to the working maps (a private copy of the automatic ones, made once)."""
        import dataclasses

        self._work_ready.wait()
        if self._work is None:  # the background copy failed (memory): try once more here
            auto = self.auto_state.seg
            self._work = (auto.labels.copy(), auto.excluded.copy())
        if seg.labels is self._work[0] and seg.excluded is self._work[1]:
            return seg
        return dataclasses.replace(seg, labels=self._work[0], excluded=self._work[1])

    def _revert(self, undo: list) -> None:
        """Write back the crops an in-place ``apply_edits`` overwrote (newest first)."""
        if not undo:
            return
        labels, excluded = self._working(self.auto_state.seg).labels, self._work[1]
        for box, lab, ex in reversed(undo):
            labels[box] = lab
            excluded[box] = ex

    def _state_at(self, i: int, keep: _State | None = None) -> _State:
        """Put the working maps in the state after ``actions[:i]`` (replayed from the
        automatic result in one ``apply_edits`` call) and return that state
        (``keep``, or rebuilt and fully re-measured when it was dropped)."""
        from carpet.measure import measure_lesions
        from carpet.segment.edits import apply_edits

        seg, effects = apply_edits(
            self.auto_state.seg, self.actions[:i], suv=self.suv, params=self._params
        )
        work = self._working(self.auto_state.seg)
        work.labels[...] = seg.labels
        work.excluded[...] = seg.excluded
        if keep is not None:
            return keep
        seg = self._working(seg)
        labels = Volume(seg.labels, self.suv.affine, unit=Unit.LABEL)
        table = measure_lesions(self.suv, labels, **self._measure_kwargs)
        return _State(
            seg, table, self._patient_from(table, seg), effect=effects[-1] if effects else {}
        )

    def _next_state(self, base: _State, action: dict) -> _State:
        """State after ``action`` on ``base`` (the current state, held by the working maps).

        ``apply_edits`` runs in place on the working maps and records the crops it
        overwrote; a removed lesion's voxels are kept in ``Segmentation.stash``, so a
        later ``restore`` gives exactly what one ``apply_edits`` call over all the
        actions gives (``carpet analyze --edits``).
        """
        from carpet.segment.edits import apply_edits

        changes: dict = {}
        try:
            seg, effects = apply_edits(
                self._working(base.seg),
                [action],
                suv=self.suv,
                params=self._params,
                inplace=True,
                changes=changes,
            )
        except Exception:
            self._revert(changes.get("undo", []))
            raise
        return _State.after(base, seg, effects, suv=self.suv, engine=self, changes=changes)

    def _after_change(self, actions: list[dict], states: list[_State]) -> None:
        """Bump versions; update the display labels and MIP where lesion voxels changed."""
        self.version += 1
        if not any(
            a.get("action") in _LABEL_ACTIONS or a.get("action") == "restore" for a in actions
        ):
            return
        boxes = [st.changed_box for st in states]
        if any(b is None for b in boxes):
            self._refresh_display_labels(None)
        else:
            box = _union_box([b for b in boxes if b[0].stop > b[0].start], self.suv.shape)
            if box[0].stop > box[0].start:
                self._refresh_display_labels(box)

    def _refresh_display_labels(self, box: tuple[slice, slice, slice] | None) -> None:
        """Update the MIP's lesion maps where the displayed lesions changed (``box``; None: all)."""
        self.mip.update_lesions(self.suv.array, self._display_labels, box)
        self.labels_version += 1

    def undo(self) -> dict:
        """Undo the last action (``POST /api/undo``)."""
        with self.lock:
            if not self.actions:
                raise InputError("nothing to undo", code="NOTHING_TO_UNDO")
            before = float(self.current.patient["tmtv_ml"])
            touched = self.current.touched
            action = self.actions.pop()
            undone = self._states.pop()
            self._removed_ids.pop()
            self._effects.pop()
            self._changed_ids.pop()
            n = len(self.actions)
            if undone is not None and undone.undo is not None:
                self._revert(undone.undo)
                if self._states[-1] is None:
                    self._states[-1] = self._state_at(n)
            else:  # its crops were dropped: replay (the last two states keep theirs)
                self._states[-1] = self._state_at(n, keep=self._states[-1])
            if undone is None:  # cannot happen (the last two are kept); be safe
                undone = _State(self.current.seg, self.current.lesions, self.current.patient)
            self._redo.append(action)
            self.method = str(self.current.seg.method)
            self.log.append(
                {"action": "undo", "undone": action},
                tmtv_ml_before=before,
                tmtv_ml_after=float(self.current.patient["tmtv_ml"]),
                lesion_id=touched[0] if len(touched) == 1 else None,
            )
            self._after_change([action], [undone])
            return self.summary()

    def redo(self) -> dict:
        """Re-apply the last undone action (``POST /api/redo``)."""
        with self.lock:
            if not self._redo:
                raise InputError("nothing to redo", code="NOTHING_TO_REDO")
            action = self._redo.pop()
            redo = list(self._redo)
            try:
                self._apply_many([action], log=True)
            except Exception:
                self._redo.append(action)
                raise
            self._redo = redo
            return self.summary()

    def edits_document(self) -> dict:
        """The reader-edits JSON of the current actions."""
        return {"version": 1, "actions": [dict(a) for a in self.actions]}

    def reviewed_result(self) -> Any:
        """The reviewed AnalysisResult, computed exactly as ``carpet analyze --edits`` does.

        Finished from the kept automatic result (:func:`carpet.pipeline.apply_reader_edits`:
        the edits replayed box by box, only the changed lesions re-measured), never
        re-segmented; a result without its automatic state is re-analysed.
        """
        from carpet import pipeline

        edits = self.edits_document() if self.actions else None
        if (self.auto.context or {}).get("finish") is not None:
            if not self.actions:
                return pipeline.apply_reader_edits(self.auto, None)
            # the current state is apply_edits(automatic, all actions) (see _next_state):
            # finish from it instead of replaying the actions on fresh copies of the maps
            changed = frozenset().union(*self._changed_ids)
            return pipeline.apply_reader_edits(
                self.auto,
                edits,
                segmentation=self.current.seg,
                effects=list(self._effects),
                changed_ids=changed,
            )
        source = self.study if self.study is not None else self.suv
        return pipeline.analyze(source, config=self.auto.config, edits=edits)

    def _keep_auto(self, auto_dir: Path) -> None:
        """Keep the automatic result in ``auto_dir``: the folder's own files when they are
        automatic (byte for byte), else a fresh ``write_analysis`` of the automatic result."""
        from carpet import pipeline

        if (self.folder / EDITS_NAME).exists() or _has_edits(_read_patient_json(self.folder)):
            pipeline.write_analysis(self.auto, auto_dir)
            return
        skip = {EDITS_NAME, "review_log.jsonl", "review_log.head"}
        with atomic_output_dir(auto_dir) as tmp:
            for p in self.folder.iterdir():
                if p.is_file() and p.name not in skip and not p.name.startswith("."):
                    shutil.copy2(p, tmp / p.name)

    def save(self) -> dict:
        """Write edits.json and the reviewed outputs atomically (``POST /api/save``).

        The reviewed files are those of ``carpet.pipeline.write_analysis`` on the
        result of ``analyze`` with the edits, so ``carpet analyze SOURCE --edits
        DIR/edits.json`` writes the same files. The folder is replaced in one
        rename (``carpet._io.atomic_output_dir``); ``DIR/auto/`` is written once.

        Returns
        -------
        dict
            ``{"paths": {name: path}, "summary": ...}``.
        """
        from carpet import pipeline

        with self.lock:
            t0 = time.perf_counter()
            result = self.reviewed_result()
            t1 = time.perf_counter()
            live = float(self.current.patient["tmtv_ml"])
            if not np.isclose(float(result.patient["tmtv_ml"]), live, rtol=1e-9, atol=1e-9):
                raise SegmentationError(
                    f"save refused: the recomputed TMTV {result.patient['tmtv_ml']:.6f} mL differs from the "
                    f"page's {live:.6f} mL; nothing was written. Please report this.",
                    code="REVIEW_INCONSISTENT",
                )
            auto_dir = self.folder / AUTO_DIRNAME
            if not auto_dir.exists():
                self._keep_auto(auto_dir)
            staging = Path(tempfile.mkdtemp(prefix=".review-save-", dir=self.folder.parent))
            try:
                pipeline.write_analysis(result, staging / "out")
                written = sorted(p.name for p in (staging / "out").iterdir() if p.is_file())
                with atomic_output_dir(self.folder) as tmp:
                    for name in written:
                        os.replace(staging / "out" / name, tmp / name)
                    if EDITS_NAME not in written:  # every action undone: no edits
                        (tmp / EDITS_NAME).unlink(missing_ok=True)
                    if pipeline.STATE_NAME not in written:  # the automatic one is in auto/
                        (tmp / pipeline.STATE_NAME).unlink(missing_ok=True)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            self._saved_n = len(self.actions)
            paths = {name: str(self.folder / name) for name in written}
            self.log.append(
                {"action": "save", "n_actions": len(self.actions)},
                tmtv_ml_before=live,
                tmtv_ml_after=live,
                extra={"files": sorted(paths)},
            )
            self.timings_s.update({"save_recompute": t1 - t0, "save": time.perf_counter() - t0})
            return {"paths": paths, "summary": self.summary()}


# ---------------------------------------------------------------------- helpers
def _read_patient_json(folder: Path) -> dict:
    path = folder / "patient.json"
    if not path.is_file() and (folder / "baseline" / "patient.json").is_file():
        raise InputError(
            f"{folder} is a `carpet response` folder: edit one time point at a time, e.g. "
            f"carpet review {folder / 'baseline'} (with both baseline/ and followup/, `carpet review "
            "DIR` shows them side by side)",
            code="RESPONSE_FOLDER",
        )
    if not path.is_file():
        raise InputError(
            f"{folder}: no patient.json; `carpet review` needs a `carpet analyze` output folder "
            "(run `carpet analyze PET --out DIR` first)",
            code="NOT_AN_ANALYSIS",
        )
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})", code="NOT_AN_ANALYSIS") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object", code="NOT_AN_ANALYSIS")
    return data


def _has_edits(patient: dict) -> bool:
    """True when a patient.json records applied reader edits."""
    edits = patient.get("edits")
    return isinstance(edits, dict) and bool(edits.get("applied"))


def _pet_source(patient: dict, pet: Any, folder: Path) -> str:
    """The PET to review: ``--pet``, else the one recorded in ``DIR/source.json``.

    ``carpet analyze`` keeps input paths out of ``patient.json`` (exported folders
    are often named after the patient); it records the PET's location in the
    ``source.json`` sidecar (:data:`carpet.pipeline.SOURCE_NAME`) instead.
    """
    return _pet_source_and_units(patient, pet, folder, None)[0]


def _pet_source_and_units(
    patient: dict, pet: Any, folder: Path, units: str | None
) -> tuple[str, str | None]:
    """(PET source, units): ``--pet``/``--units`` first, else ``DIR/source.json``."""
    from carpet.pipeline import SOURCE_NAME, read_source_record

    if pet is not None:
        if not Path(pet).exists():
            raise InputError(f"--pet {pet}: no such file or folder", code="PET_NOT_FOUND")
        return str(pet), units
    record = read_source_record(folder)
    if record is None:
        src = (patient.get("provenance") or {}).get("source")  # folders of older versions
        if not src:
            raise InputError(
                f"{folder}: no {SOURCE_NAME} records where the analysed PET is (folders written "
                f"without it, or with it deleted); give it: carpet review {folder} --pet "
                "PET_FOLDER_OR_FILE",
                code="PET_NOT_GIVEN",
            )
        where = folder / "patient.json"
    else:
        src = record["pet_path"]
        where = folder / SOURCE_NAME
        if units is None:
            units = record.get("units")
    if not Path(src).exists():
        raise InputError(
            f"{where}: the recorded PET source {src} does not exist (moved or deleted?); "
            f"give its new place: carpet review {folder} --pet PATH",
            code="PET_NOT_FOUND",
        )
    return str(src), units


def _check_series(patient: dict, study: Any, source: str, folder: Path | None = None) -> None:
    """Refuse a PET whose SeriesInstanceUID is not the analysed one."""
    want = (patient.get("provenance") or {}).get("series_instance_uid")
    if not want:
        from carpet.pipeline import read_source_record

        want = (read_source_record(folder) or {}).get("series_instance_uid") if folder else None
    got = getattr(study, "series_instance_uid", None)
    if want and got and want != got:
        raise InputError(
            f"{source}: PET series {got} is not the analysed series {want}; give the PET that "
            "`carpet analyze` read with --pet",
            code="PET_MISMATCH",
        )


def _config_from_patient(patient: dict, folder: Path) -> Any:
    """The AnalysisConfig recorded in patient.json (provenance.config)."""
    from carpet.config import AnalysisConfig, from_mapping

    cfg = (patient.get("provenance") or {}).get("config")
    if not isinstance(cfg, dict):
        raise InputError(
            f"{folder / 'patient.json'}: no analysis configuration recorded (provenance.config); "
            "re-run `carpet analyze` to make a reviewable folder",
            code="NOT_AN_ANALYSIS",
        )
    cfg = {k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()}
    return from_mapping(AnalysisConfig, cfg, source=f"{folder / 'patient.json'} provenance.config")


def _read_pet(source: str, units: str | None) -> Any:
    from carpet.ingest import read_pet

    return read_pet(source, units=units)


def _check_auto_matches(folder: Path, auto: Any) -> None:
    """The recomputed automatic result must reproduce the folder's automatic lesions."""
    ref_dir = folder / AUTO_DIRNAME if (folder / AUTO_DIRNAME).is_dir() else None
    if ref_dir is None:
        if (folder / EDITS_NAME).exists() or _has_edits(_read_patient_json(folder)):
            return  # reviewed folder without auto/: nothing automatic on disk to compare with
        ref_dir = folder
    csv = ref_dir / "lesions.csv"
    if not csv.exists():
        return
    ref = pd.read_csv(csv)
    got = auto.lesions
    same = len(ref) == len(got) and (
        len(ref) == 0
        or (
            np.array_equal(ref["lesion_id"].to_numpy(), got["lesion_id"].to_numpy())
            and np.allclose(
                ref["volume_ml"].to_numpy(), got["volume_ml"].to_numpy(), rtol=1e-5, atol=1e-9
            )
        )
    )
    if not same:
        raise InputError(
            f"{csv}: the automatic analysis recomputed from the PET has {len(got)} lesions "
            f"(TMTV {float(auto.patient['tmtv_ml']):.3f} mL) but the folder records {len(ref)}; the PET "
            "or carpet's version differs from the one that made this folder. Re-run `carpet analyze` "
            "or point --pet to the original series.",
            code="MASK_MISMATCH",
        )


def _display(vol: Volume, max_voxels: int = DISPLAY_MAX_VOXELS) -> Volume:
    """Subsample a volume for the slice viewer when it has more than ``max_voxels`` voxels."""
    n = int(np.prod(vol.shape))
    f = 1
    while n / f**3 > max_voxels:
        f += 1
    if f == 1:
        return vol
    aff = np.array(vol.affine)
    aff[:3, :3] *= f
    return Volume(np.ascontiguousarray(vol.array[::f, ::f, ::f]), aff, unit=vol.unit)


def _nifti_bytes(vol: Volume) -> bytes:
    """Uncompressed NIfTI-1 bytes of a volume (RAS conversion by carpet.ingest.nifti)."""
    from carpet.ingest.nifti import write_nifti

    with tempfile.TemporaryDirectory(prefix="carpet-review-") as d:
        path = Path(d) / "v.nii"
        write_nifti(vol, path)
        return path.read_bytes()


# ---------------------------------------------------------------------- running
def run_server(
    session: ReviewSession,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    open_browser: bool = True,
    stop_event: threading.Event | None = None,
) -> None:
    """Serve ``session`` until Ctrl-C / SIGTERM (or ``stop_event``), then stop cleanly.

    Prints exactly one line to stdout, ``carpet review: http://127.0.0.1:PORT/?token=TOKEN``.
    Requests in flight (a save) finish before the process exits; unsaved edits are
    reported on stderr (they stay in the review log).
    """
    from carpet.review.server import ReviewServer

    stop = stop_event or threading.Event()
    server = ReviewServer(session, host=host, port=port)
    print(f"carpet review: {server.url}", flush=True)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    server.start()
    if open_browser:
        import webbrowser

        webbrowser.open(server.url)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if session.dirty:
            n = len(session.actions) - (session._saved_n or 0)
            print(
                f"carpet review: warning: stopped with unsaved edits ({n} action(s) since the last save); "
                f"the saved files are unchanged and the actions are in {session.log.path}",
                file=sys.stderr,
                flush=True,
            )
