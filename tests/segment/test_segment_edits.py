"""Reader edits: every action, stable ids, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from carpet.config import AnalysisConfig
from carpet.errors import ConfigError, InputError, SegmentationError
from carpet.pipeline import analyze
from carpet.segment.edits import apply_edits, load_edits, validate_edits
from carpet.synthetic import LesionSpec, make_whole_body_study

FAST = AnalysisConfig(reference_regions=False, write_mip=False)
# thorax phantom: three lesions >= 3 mL, one small lesion (< 3 mL) only a reader adds
LESIONS = [
    LesionSpec((-5.0, -35.0, -370.0), 14.0, 15.0, "mediastinal"),
    LesionSpec((135.0, 10.0, -340.0), 11.0, 10.0, "axillary_left"),
    LesionSpec((-55.0, 20.0, -430.0), 10.0, 7.0, "hilar_right"),
    LesionSpec((-135.0, 10.0, -345.0), 7.0, 6.0, "axillary_right_small"),
]


@pytest.fixture(scope="module")
def base():
    s = make_whole_body_study(
        spacing_mm=(4.0, 4.0, 4.0), fov="thorax", lesions=LESIONS, with_ct=False
    )
    return s, analyze(s, config=FAST)


def _rerun(s, actions):
    return analyze(s, config=FAST, edits={"version": 1, "actions": actions})


def test_auto_ids_by_decreasing_suvmax(base):
    s, r = base
    assert list(r.lesions.lesion_id) == [1, 2, 3]
    assert list(np.round(r.lesions.suv_max, 2)) == [15.0, 10.0, 7.0]


def test_remove_restore_and_remove_at_keep_ids(base):
    s, r = base
    r2 = _rerun(s, [{"action": "remove", "lesion_id": 2}])
    assert list(r2.lesions.lesion_id) == [1, 3]
    assert not (r2.labels.array == 2).any()
    assert r2.patient["tmtv_ml"] == pytest.approx(r.patient["tmtv_ml"] - r.lesions.volume_ml[1])
    assert r2.patient["edits"]["removed_lesion_ids"] == [2]
    np.testing.assert_array_equal(r2.auto_labels.array, r.labels.array)  # automatic result kept
    r3 = _rerun(s, [{"action": "remove", "lesion_id": 2}, {"action": "restore", "lesion_id": 2}])
    np.testing.assert_array_equal(r3.labels.array, r.labels.array)
    row = r.lesions.iloc[2]
    r4 = _rerun(
        s,
        [
            {
                "action": "remove_at",
                "point_mm": [row.centroid_x_mm, row.centroid_y_mm, row.centroid_z_mm],
            }
        ],
    )
    assert list(r4.lesions.lesion_id) == [1, 2]
    assert r4.edits_applied[0]["lesion_id"] == 3


def test_physiological_marks_excluded(base):
    s, r = base
    r2 = _rerun(s, [{"action": "physiological", "lesion_id": 1}])
    assert (r2.excluded.array == 6).sum() == (r.labels.array == 1).sum()
    assert r2.patient["lesion_count"] == 2


def test_add_small_lesion_gets_next_id_and_no_minimum_volume(base):
    s, r = base
    small = s.lesions[3]
    r2 = _rerun(
        s,
        [
            {"action": "remove", "lesion_id": 3},
            {"action": "add", "point_mm": list(small.center_mm), "method": "pct41"},
        ],
    )
    assert list(r2.lesions.lesion_id) == [1, 2, 4]  # 3 is never reused
    added = r2.lesions.set_index("lesion_id").loc[4]
    assert added.origin == "added" and added.method == "pct41"
    truth = s.lesion_truth.array == small.lesion_id
    np.testing.assert_array_equal(r2.labels.array == 4, truth)
    assert added.volume_ml < 3.0


def test_set_method_and_flags(base):
    s, r = base
    r2 = _rerun(
        s,
        [
            {"action": "set_method", "method": "suv2.5"},
            {"action": "flag", "flag": "spleen_involved", "value": True},
        ],
    )
    assert r2.patient["method"] == "suv2.5"
    assert set(r2.lesions.method) == {"suv2.5"}
    assert r2.patient["flags"] == {"spleen_involved": True, "marrow_involved": False}
    assert r2.patient["tmtv_ml"] >= r.patient["tmtv_ml"]


@pytest.mark.parametrize(
    "actions, exc, code",
    [
        ([{"action": "remove", "lesion_id": 99}], SegmentationError, "UNKNOWN_LESION_ID"),
        (
            [{"action": "remove", "lesion_id": 1}, {"action": "remove", "lesion_id": 1}],
            SegmentationError,
            "LESION_ALREADY_REMOVED",
        ),
        ([{"action": "restore", "lesion_id": 1}], SegmentationError, "LESION_NOT_REMOVED"),
        (
            [{"action": "remove_at", "point_mm": [1e4, 0, 0]}],
            SegmentationError,
            "POINT_OUTSIDE_VOLUME",
        ),
        (
            [{"action": "remove_at", "point_mm": [0.0, 100.0, -600.0]}],
            SegmentationError,
            "NO_LESION_AT_POINT",
        ),
        (
            [{"action": "add", "point_mm": [0, 0, -600], "method": "otsu"}],
            ConfigError,
            "UNKNOWN_METHOD",
        ),
        ([{"action": "zap"}], ConfigError, "UNKNOWN_ACTION"),
        ([{"action": "flag", "flag": "liver_involved"}], ConfigError, "UNKNOWN_FLAG"),
        ([{"action": "remove", "lesion_id": "2"}], ConfigError, "EDITS_INVALID"),
        ([{"action": "add", "point_mm": [0, 0]}], ConfigError, "EDITS_INVALID"),
    ],
)
def test_bad_edits_are_refused_clearly(base, actions, exc, code):
    s, r = base
    with pytest.raises(exc) as info:
        apply_edits(r.segmentation, actions, suv=r.suv, params=r.context["params"])
    assert info.value.code == code
    assert "action #" in str(info.value)


def test_add_in_background_is_refused(base):
    s, r = base
    with pytest.raises(SegmentationError) as info:
        apply_edits(
            r.segmentation,
            [{"action": "add", "point_mm": [0.0, 60.0, -600.0], "method": "suv4"}],
            suv=r.suv,
            params=r.context["params"],
        )
    assert info.value.code == "EMPTY_ADDED_LESION"


def test_edits_file_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_edits(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        load_edits(bad)
    ok = tmp_path / "ok.json"
    ok.write_text(json.dumps({"version": 1, "actions": [{"action": "remove", "lesion_id": 1}]}))
    assert load_edits(ok) == [{"action": "remove", "lesion_id": 1}]
    with pytest.raises(ConfigError, match="version"):
        validate_edits({"version": 2, "actions": []})


def test_add_near_removed_organ_does_not_take_it_but_a_click_inside_does():
    s = make_whole_body_study(
        spacing_mm=(4.0, 4.0, 4.0),
        fov="thorax",
        n_lesions=0,
        with_ct=False,
        lesions=[LesionSpec((95.0, -40.0, -470.0), 5.0, 6.0, "small_near_heart")],
    )
    r = analyze(s, config=FAST)
    assert r.patient["lesion_count"] == 0  # 0.5 mL: below the preselection minimum
    heart = r.excluded.array == 4
    assert heart.any()
    lesion = s.lesions[0]
    seg, _ = apply_edits(
        r.segmentation,
        [{"action": "add", "point_mm": list(lesion.center_mm), "method": "suv2.5"}],
        suv=r.suv,
        params=r.context["params"],
    )
    added = seg.labels == seg.max_id
    assert added.any() and not (added & heart).any()
    inside = r.suv.index_to_world(np.argwhere(heart)[len(np.argwhere(heart)) // 2])[0]
    seg2, _ = apply_edits(
        r.segmentation,
        [{"action": "add", "point_mm": list(inside), "method": "suv4"}],
        suv=r.suv,
        params=r.context["params"],
    )
    assert (seg2.labels[heart] > 0).any()  # deliberately taken back from the removed organ


# --------------------------------------------------------------------------- box-local edits
EDIT_SEQUENCE = [
    {"action": "remove", "lesion_id": 1},
    {"action": "physiological", "lesion_id": 2},
    {"action": "add", "point_mm": list(LESIONS[3].center_mm), "method": "pct41"},
    {"action": "restore", "lesion_id": 1},
    {"action": "flag", "flag": "marrow_involved", "value": True},
    {"action": "restore", "lesion_id": 2},
    {"action": "remove_at", "point_mm": list(LESIONS[2].center_mm)},
    {"action": "add", "point_mm": list(LESIONS[2].center_mm), "method": "suv2.5"},
]


def _same_segmentation(a, b):
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.excluded, b.excluded)
    assert (a.removed, a.flags, a.max_id, a.method) == (b.removed, b.flags, b.max_id, b.method)
    assert a.thresholds == b.thresholds and a.lesion_methods == b.lesion_methods
    assert sorted(a.seeds) == sorted(b.seeds)


def test_one_action_at_a_time_in_place_equals_one_call_and_undo_is_exact(base):
    """The review applies actions one by one, in place, and undoes them from crops."""
    s, r = base
    auto = r.auto_segmentation
    labels0, excluded0 = auto.labels.copy(), auto.excluded.copy()
    one, effects_one = apply_edits(auto, EDIT_SEQUENCE, suv=r.suv, params=r.context["params"])
    # the input is never modified without inplace, and the result does not share its arrays
    np.testing.assert_array_equal(auto.labels, labels0)
    assert not np.shares_memory(one.labels, auto.labels)
    import dataclasses

    work = dataclasses.replace(auto, labels=labels0.copy(), excluded=excluded0.copy())
    undo_stack, effects = [], []
    for action in EDIT_SEQUENCE:
        changes = {}
        work, eff = apply_edits(
            work, [action], suv=r.suv, params=r.context["params"], inplace=True, changes=changes
        )
        effects += eff
        undo_stack.append(changes["undo"])
        for _box, lab, _ in changes["undo"]:  # crops are box-local, never the whole scan
            assert lab.size < auto.labels.size
    _same_segmentation(work, one)
    assert effects == effects_one  # restore gives back exactly the removed voxels (stash)
    for undo in reversed(undo_stack):
        for box, lab, ex in reversed(undo):
            work.labels[box] = lab
            work.excluded[box] = ex
    np.testing.assert_array_equal(work.labels, labels0)
    np.testing.assert_array_equal(work.excluded, excluded0)


def test_failed_in_place_action_can_be_reverted(base):
    s, r = base
    import dataclasses

    auto = r.auto_segmentation
    work = dataclasses.replace(auto, labels=auto.labels.copy(), excluded=auto.excluded.copy())
    changes = {}
    with pytest.raises(SegmentationError) as info:
        apply_edits(
            work,
            [
                {"action": "remove", "lesion_id": 3},
                {"action": "add", "point_mm": [0.0, 60.0, -600.0], "method": "suv4"},
            ],
            suv=r.suv,
            params=r.context["params"],
            inplace=True,
            changes=changes,
        )
    assert info.value.code == "EMPTY_ADDED_LESION"
    assert not (work.labels == 3).any()  # the first action was applied in place ...
    for box, lab, ex in reversed(changes["undo"]):
        work.labels[box] = lab
        work.excluded[box] = ex
    np.testing.assert_array_equal(work.labels, auto.labels)  # ... and is undone exactly


def test_segmentation_box_of_uses_the_hint(base):
    s, r = base
    seg = r.auto_segmentation
    for lid in seg.lesion_ids:
        m = seg.labels == lid
        idx = np.argwhere(m)
        want = tuple(
            slice(int(lo), int(hi) + 1) for lo, hi in zip(idx.min(0), idx.max(0), strict=True)
        )
        assert seg.box_of(lid) == want
    assert seg.box_of(999) is None


def test_apply_reader_edits_equals_analyze_with_edits(base, tmp_path, monkeypatch):
    """Finishing from the automatic result gives carpet analyze --edits' files, byte for byte,
    and re-measures only the lesions whose voxels an edit set."""
    import carpet.measure.tables as tables
    from carpet.pipeline import apply_reader_edits, write_analysis

    s, r = base
    want = _rerun(s, EDIT_SEQUENCE)
    measured = []
    real = tables.measure_lesions

    def spy(*a, **kw):
        measured.append(kw.get("lesion_ids"))
        return real(*a, **kw)

    monkeypatch.setattr(tables, "measure_lesions", spy)
    got = apply_reader_edits(r, EDIT_SEQUENCE)
    # measured again: restored 1 and 2, added 4 and 5 (never the untouched ones; 3 is removed)
    assert measured == [sorted([1, 2, 4, 5])]
    _same_segmentation(got.segmentation, want.segmentation)
    write_analysis(want, tmp_path / "want", source=False)
    write_analysis(got, tmp_path / "got", source=False)
    for name in ("lesions.csv", "edits.json"):
        assert (tmp_path / "want" / name).read_bytes() == (tmp_path / "got" / name).read_bytes()
    import nibabel as nib

    a, b = (nib.load(tmp_path / d / "mask.nii.gz") for d in ("want", "got"))
    assert np.array_equal(np.asarray(a.dataobj), np.asarray(b.dataobj))
    assert np.array_equal(a.affine, b.affine)
    pw, pg = (json.loads((tmp_path / d / "patient.json").read_text()) for d in ("want", "got"))
    for p in (pw, pg):
        del p["provenance"]["timings_s"]
    assert pw == pg
    assert pg["flags"]["marrow_involved"] is True and pg["edits"]["removed_lesion_ids"] == [3]
    # no edits: the automatic result itself
    again = apply_reader_edits(r, None)
    assert again.patient["tmtv_ml"] == r.patient["tmtv_ml"] and again.edits_applied == []
    np.testing.assert_array_equal(again.labels.array, r.labels.array)


def test_apply_reader_edits_needs_an_analyze_result(base):
    import dataclasses

    from carpet.pipeline import apply_reader_edits

    s, r = base
    bare = dataclasses.replace(r, context={})
    with pytest.raises(InputError) as info:
        apply_reader_edits(bare, [{"action": "remove", "lesion_id": 1}])
    assert info.value.code == "BAD_SOURCE" and "analyze" in str(info.value)


def test_resume_analysis_rebuilds_the_automatic_result_exactly(base, tmp_path, monkeypatch):
    """The saved state gives analyze()'s automatic result back without re-segmenting."""
    import carpet.pipeline as pipeline
    from carpet.pipeline import STATE_NAME, apply_reader_edits, resume_analysis, write_analysis

    s, r = base
    out = write_analysis(r, tmp_path / "a", source=False)
    assert (out / STATE_NAME).is_file()
    monkeypatch.setattr(pipeline, "analyze", None)  # never called by resume_analysis
    back = resume_analysis(out, s)
    _same_segmentation(back.auto_segmentation, r.auto_segmentation)
    for lid, sd in r.auto_segmentation.seeds.items():
        got = back.auto_segmentation.seeds[lid]
        assert (got.box, got.max_index, got.suv_max, got.origin) == (
            sd.box,
            sd.max_index,
            sd.suv_max,
            sd.origin,
        )
        np.testing.assert_array_equal(got.core, sd.core)
    cols = [c for c in r.lesions.columns if c != "hull_points_mm"]
    assert list(back.lesions.columns) == list(r.lesions.columns)
    assert back.lesions[cols].equals(r.lesions[cols])
    for a, b in zip(back.lesions.hull_points_mm, r.lesions.hull_points_mm, strict=True):
        np.testing.assert_array_equal(a, b)
    pa, pb = dict(back.patient), dict(r.patient)
    pa["provenance"] = {k: v for k, v in pa["provenance"].items() if k != "timings_s"}
    pb["provenance"] = {k: v for k, v in pb["provenance"].items() if k != "timings_s"}
    assert pa == pb
    assert back.context["params"] == r.context["params"]
    # edits on the resumed result are those of a fresh analyze with the edits
    monkeypatch.undo()
    want = _rerun(s, EDIT_SEQUENCE)
    got = apply_reader_edits(back, EDIT_SEQUENCE)
    _same_segmentation(got.segmentation, want.segmentation)
    cols = [c for c in want.lesions.columns if c != "hull_points_mm"]
    assert got.lesions[cols].equals(want.lesions[cols])
    # an edited result has no automatic state to write
    write_analysis(want, tmp_path / "e", source=False)
    assert not (tmp_path / "e" / STATE_NAME).exists()


def test_resume_analysis_refuses_another_pet_or_version(base, tmp_path, monkeypatch):
    import carpet.pipeline as pipeline
    from carpet.pipeline import STATE_NAME, resume_analysis, write_analysis

    s, r = base
    out = write_analysis(r, tmp_path / "a", source=False)
    other = r.suv.with_array(r.suv.array * np.float32(1.01))
    assert resume_analysis(out, other) is None  # not the analysed PET: re-analyse
    assert resume_analysis(tmp_path / "none", s) is None
    monkeypatch.setattr(pipeline, "__version__", "0.0.0-other")
    assert resume_analysis(out, s) is None  # another carpet version: re-analyse
    monkeypatch.undo()
    (out / STATE_NAME).write_bytes(b"not an npz")
    assert resume_analysis(out, s) is None
