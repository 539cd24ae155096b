"""Reference regions (liver sphere, MBP cylinder) on the analytic phantom and on ACRIN."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from carpet.errors import ConfigError, InputError, QualityWarning
from carpet.measure.reference import (
    measure_voi,
    parse_point_mm,
    place_liver_voi,
    place_mbp_voi,
    reference_label_map,
)
from carpet.synthetic.phantom import (
    ORGAN_LABELS,
    ORGAN_SUV,
    LesionSpec,
    RigidPose,
    make_whole_body_study,
)

LIVER = np.float32(ORGAN_SUV["liver"])
BLOOD = np.float32(ORGAN_SUV["blood_pool"])
AORTA = {"aorta": ORGAN_LABELS["blood_pool"]}


@pytest.fixture(scope="module")
def study():
    # a liver lesion right where a naive placement would go, plus a mediastinal one
    lesions = [
        LesionSpec((-80.0, -10.0, -585.0), 14.0, 9.0, "liver"),
        LesionSpec((-5.0, -35.0, -370.0), 12.0, 12.0, "mediastinal"),
    ]
    return make_whole_body_study(
        fov="thorax",
        spacing_mm=(4.0, 4.0, 4.0),
        lesions=lesions,
        pose=RigidPose((0, 0, 3), (12, -8, 20)),
    )


def _inside_label(study, region, label):
    idx = region.voxel_indices
    return np.all(study.organs.array[idx[:, 0], idx[:, 1], idx[:, 2]] == label)


@pytest.mark.parametrize("source", ["organs", "ct", "pet"])
def test_reference_voi_means_exact_in_uniform_organs(study, source):
    kw = {
        "organs": {"organs": study.organs, "organ_labels": AORTA},
        "ct": {"ct": study.ct},
        "pet": {},
    }[source]
    liver = place_liver_voi(study.suv, lesions=study.lesion_truth, **kw)
    mbp = place_mbp_voi(study.suv, lesions=study.lesion_truth, liver=liver, **kw)
    assert liver.method == source and mbp.method == source
    assert liver.suv_mean == pytest.approx(float(LIVER), abs=1e-6)
    assert liver.suv_sd == 0 and liver.cv == 0 and liver.suv_max == pytest.approx(float(LIVER))
    assert mbp.suv_mean == pytest.approx(float(BLOOD), abs=1e-6)
    assert _inside_label(study, liver, ORGAN_LABELS["liver"])
    assert _inside_label(study, mbp, ORGAN_LABELS["blood_pool"])
    # never inside a lesion
    les = study.lesion_truth.array
    assert not np.any(liver.mask(study.suv) & (les > 0))
    # right lobe (patient right = -x in LPS, relative to the liver's own centre under the pose)
    liver_x = study.suv.index_to_world(np.argwhere(study.organs.array == ORGAN_LABELS["liver"]))[
        :, 0
    ]
    assert liver.center_mm[0] <= np.median(liver_x)
    # descending aorta: posterior-left, not the heart cavity
    assert mbp.center_mm[1] > 20 and mbp.center_mm[0] > 10
    # sphere of 3 cm at 4 mm voxels: count of voxel centres within 15 mm
    assert 200 < liver.n_voxels < 300 and liver.shape == "sphere" and mbp.shape == "cylinder"
    assert liver.warnings == () and mbp.warnings == ()


def test_reference_override_negative_coordinates_and_label_map(study):
    liver_idx = np.argwhere(study.organs.array == ORGAN_LABELS["liver"])
    c = study.suv.index_to_world(liver_idx).mean(axis=0)
    text = ",".join(f"{v:.1f}" for v in c)
    assert "-" in text  # LPS liver centre has negative coordinates
    center = parse_point_mm(text)
    # move it 20 mm right (away from the lesion) so that the override sphere is clean
    center = (center[0] - 30.0, center[1], center[2])
    reg = place_liver_voi(study.suv, center_mm=center, lesions=None)
    assert reg.method == "override" and reg.center_mm == pytest.approx(center)
    lab = reference_label_map(study.suv, [reg])
    assert int((lab.array == 1).sum()) == reg.n_voxels
    d = reg.to_dict()
    assert d["method"] == "override" and d["n_voxels"] == reg.n_voxels


def test_reference_override_refusals_have_clear_messages(study):
    suv = study.suv
    corner = suv.index_to_world([[0, 0, 0]])[0]
    with pytest.raises(InputError, match=r"partly outside the PET field of view") as e:
        place_liver_voi(suv, center_mm=tuple(corner + 5.0))
    assert e.value.code == "VOI_OUTSIDE_FOV"
    # inside the FOV but in the air in front of the patient (y very anterior)
    mid = suv.index_to_world([[suv.shape[0] // 2, 3, suv.shape[2] // 2]])[0] + [0, 20, 0]
    with pytest.raises(InputError, match=r"partly outside the body") as e:
        place_mbp_voi(suv, center_mm=tuple(mid))
    assert e.value.code == "VOI_OUTSIDE_BODY"
    with pytest.raises(InputError, match=r"overlaps lesion\(s\) \[1\]") as e:
        place_liver_voi(suv, center_mm=study.lesions[0].center_mm, lesions=study.lesion_truth)
    assert e.value.code == "VOI_IN_LESION"
    with pytest.raises(ConfigError, match=r"--mbp-voi: expected three numbers X,Y,Z"):
        parse_point_mm("12,abc,3", option="--mbp-voi")
    assert parse_point_mm(" -1.5e1 ; -2 ; +3 ") == (-15.0, -2.0, 3.0)


def test_reference_quality_warnings(study):
    liver = place_liver_voi(study.suv, organs=study.organs, lesions=study.lesion_truth)
    hot = study.suv.with_array(study.suv.array * 2.0)
    with pytest.warns(QualityWarning, match=r"liver SUVmean 4.40 outside the EANM range 1.3-3"):
        reg = measure_voi(hot, name="liver", center_mm=liver.center_mm, diameter_mm=30.0)
    assert any("EANM" in w for w in reg.warnings)
    rng = np.random.default_rng(5)
    noisy = study.suv.with_array(study.suv.array * (1 + 0.4 * rng.standard_normal(study.suv.shape)))
    with pytest.warns(QualityWarning, match=r"coefficient of variation \d+% > 20%"):
        reg = measure_voi(noisy, name="liver", center_mm=liver.center_mm, diameter_mm=30.0)
    assert reg.cv > 0.2


def test_reference_no_liver_found_is_a_clear_error(study):
    flat = study.suv.with_array(np.where(study.suv.array > 0, 0.7, 0.0).astype(np.float32))
    with pytest.raises(
        InputError, match=r"could not place the liver VOI automatically .*--liver-voi"
    ) as e:
        place_liver_voi(flat)
    assert e.value.code == "NO_LIVER_VOI"


@pytest.mark.slow
def test_reference_on_acrin_is_plausible(shared_data):
    ingest = pytest.importorskip("carpet.ingest")
    if not hasattr(ingest, "read_pet"):
        pytest.skip("carpet.ingest.read_pet not available yet")
    study = shared_data / "acrin-nsclc-fdg-pet-042" / "study_jpegls"
    pet = ingest.read_pet(study)
    ct = ingest.read_ct_for(pet)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", QualityWarning)
        liver = place_liver_voi(pet.suv, ct=ct)
        mbp = place_mbp_voi(pet.suv, ct=ct, liver=liver)
    assert liver.method == "ct" and mbp.method == "ct"
    assert 1.3 <= liver.suv_mean <= 3.0 and liver.cv < 0.25
    assert 0.8 <= mbp.suv_mean < liver.suv_mean
    # right lobe (patient right = -x), descending aorta left of the midline, above the liver
    assert (
        liver.center_mm[0] < -50
        and 10 < mbp.center_mm[0] < 70
        and mbp.center_mm[2] > liver.center_mm[2]
    )
    # PET alone lands in the same organs (within a few cm of the CT-guided centres)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", QualityWarning)
        liver_pet = place_liver_voi(pet.suv)
        mbp_pet = place_mbp_voi(pet.suv, liver=liver_pet)
    assert liver_pet.method == "pet" and abs(liver_pet.suv_mean - liver.suv_mean) < 0.2
    assert np.linalg.norm(np.subtract(mbp_pet.center_mm, mbp.center_mm)) < 40.0
