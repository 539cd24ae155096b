"""The review edits one private copy of the maps in place; undo and failed batches restore it."""

from __future__ import annotations

import numpy as np
import pytest


def test_undo_writes_back_exactly_and_failed_batches_change_nothing(review_session):
    from carpet.errors import SegmentationError

    s = review_session
    auto = s.auto_state.seg
    pristine = (auto.labels.copy(), auto.excluded.copy())
    les = s.lesions()
    big = max(les, key=lambda r: r["volume_ml"])
    s.apply([{"action": "physiological", "lesion_id": big["lesion_id"]}])
    s.apply([{"action": "add", "point_mm": big["centroid_mm"], "method": "pct41"}])
    s.apply([{"action": "remove", "lesion_id": les[-1]["lesion_id"]}])
    work = s.current.seg
    assert work.labels is not auto.labels and not np.shares_memory(work.labels, auto.labels)
    assert (work.labels == s.current.seg.max_id).any()
    before = (work.labels.copy(), work.excluded.copy(), s.summary()["patient"])
    # a batch whose second action fails: the first one (applied in place) is rolled back
    lid = les[0]["lesion_id"]
    with pytest.raises(SegmentationError):
        s.apply([{"action": "remove", "lesion_id": lid}, {"action": "remove", "lesion_id": lid}])
    np.testing.assert_array_equal(s.current.seg.labels, before[0])
    np.testing.assert_array_equal(s.current.seg.excluded, before[1])
    assert s.summary()["patient"] == before[2] and s.summary()["n_actions"] == 3
    # undo everything: the working maps are the automatic ones again, voxel for voxel
    for _ in range(3):
        s.undo()
    np.testing.assert_array_equal(s.current.seg.labels, auto.labels)
    np.testing.assert_array_equal(s.current.seg.excluded, auto.excluded)
    assert s.summary()["patient"]["tmtv_ml"] == pytest.approx(s.auto.patient["tmtv_ml"], rel=1e-12)
    # the automatic maps themselves were never written
    np.testing.assert_array_equal(auto.labels, pristine[0])
    np.testing.assert_array_equal(auto.excluded, pristine[1])
