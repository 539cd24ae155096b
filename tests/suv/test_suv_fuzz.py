"""Fuzz: seeded variants of DRO headers with SUV-relevant tags deleted or corrupted.

Every variant must give finite positive factors or a coded SuvError -- never another exception.
Corrupted values are injected as raw (undecoded) elements, as a malformed file would deliver them.
"""

from __future__ import annotations

import copy
import math
import random

import pydicom
import pytest
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from carpet.errors import SuvError
from carpet.ingest.pet_header import read_pet_acquisition
from carpet.suv import REFUSAL_CODES, compute_suv_factors

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR")

TOP = [
    "Units",
    "DecayCorrection",
    "CorrectedImage",
    "PatientWeight",
    "PatientSize",
    "PatientSex",
    "SeriesDate",
    "SeriesTime",
    "AcquisitionDate",
    "AcquisitionTime",
    "ActualFrameDuration",
    "FrameReferenceTime",
    "RescaleSlope",
    "RescaleIntercept",
    "SUVType",
    "DecayFactor",
    "StudyDate",
]
RP = [
    "RadionuclideTotalDose",
    "RadionuclideHalfLife",
    "RadiopharmaceuticalStartTime",
    "RadiopharmaceuticalStartDateTime",
]
VALUES = {
    "DS": [
        "",
        "abc",
        "-1",
        "0",
        "1e400",
        "nan",
        "-3.7e8",
        "99999999999",
        "1",
        "70.0",
        "368.08",
        "1e-30",
        "12\\13",
        "1e30",
        "-1e30",
    ],
    "IS": ["", "x", "-5", "0", "300000", "99999999999", "1.5e3"],
    "CS": [
        "",
        "BQML",
        "CNTS",
        "GML",
        "CM2ML",
        "PROPCNTS",
        "START",
        "ADMIN",
        "NONE",
        "M",
        "F",
        "O",
        "X",
        "ATTN\\DECY",
        "DECY",
        "LBM",
        "IBW",
        "BSA",
        "LBMJANMA",
    ],
    "DA": [
        "",
        "20250101",
        "2025",
        "20251301",
        "19591224",
        "20250102",
        "abcdefgh",
        "00010101",
        "99991231",
    ],
    "TM": ["", "100000", "110000", "250000", "235959.999999", "0030", "xx", "113000.5"],
    "DT": [
        "",
        "20250101100000",
        "20241209100000",
        "2025",
        "20250101250000",
        "20250102003000+0100",
        "00010101000000",
    ],
}


def set_raw(ds: Dataset, keyword: str, text: str) -> None:
    tag = Tag(tag_for_keyword(keyword))
    vr = dictionary_VR(tag)
    value = text.encode()
    if len(value) % 2:
        value += b" "
    ds[tag] = RawDataElement(tag, vr, len(value), value, 0, False, True, True, False)


def mutate(rng: random.Random, dss: list[Dataset]) -> None:
    """Apply 1-4 seeded mutations; each to every instance (or, 20 % of the time, to one instance)."""
    for _ in range(rng.randint(1, 4)):
        targets = dss if rng.random() < 0.8 else [rng.choice(dss)]
        where, op = rng.random(), rng.random()
        if where < 0.6:
            kw, in_rp = TOP[int(where / 0.6 * len(TOP))], False
        elif where < 0.85:
            kw, in_rp = RP[int((where - 0.6) / 0.25 * len(RP))], True
        elif where < 0.9:
            kw, in_rp = (
                (
                    "RadiopharmaceuticalInformationSequence"
                    if op < 0.5
                    else "RadionuclideCodeSequence"
                ),
                op >= 0.5,
            )
            op = 0.0  # delete
        else:
            group, creator, elem = rng.choice(
                [
                    (0x7053, "Philips PET Private Group", 0x00),
                    (0x7053, "Philips PET Private Group", 0x09),
                    (0x0009, "GEMS_PETD_01", 0x0D),
                ]
            )
            vr = "DT" if group == 0x0009 else "DS"
            value = rng.choice(VALUES[vr]).encode()
            value += b" " * (len(value) % 2)
            for ds in targets:
                tag = ds.private_block(group, creator, create=True).get_tag(elem)
                ds[tag] = RawDataElement(tag, vr, len(value), value, 0, False, True, True, False)
            continue
        text = (
            None
            if op < 0.3
            else rng.choice(VALUES[dictionary_VR(tag_for_keyword(kw))] if kw in TOP + RP else [""])
        )
        for ds in targets:
            holder = ds
            if in_rp:
                seq = ds.get("RadiopharmaceuticalInformationSequence")
                if not seq:
                    continue
                holder = seq[0]
            if text is None:
                if kw in holder:
                    delattr(holder, kw)
            else:
                set_raw(holder, kw, text)


def check(dss: list[Dataset]) -> str:
    acq = read_pet_acquisition(dss, source="fuzz")
    try:
        f = compute_suv_factors(acq)
    except SuvError as exc:
        assert exc.code in REFUSAL_CODES, exc.code
        return exc.code
    for v in (
        f.bw_factor,
        f.lbm_factor,
        f.bsa_factor,
        f.ibw_factor,
        *(f.slice_bw_factors or {}).values(),
    ):
        assert v is None or (math.isfinite(v) and v > 0), f.to_dict()
    assert math.isfinite(f.bw_factor)
    f.to_dict()
    return "ok"


@pytest.mark.parametrize("base", ["DRO_0_0", "DRO_2_5", "DRO_3_2", "DRO_3_4"])
def test_fuzzed_dro_headers_give_factor_or_coded_refusal(dro_root, base):
    files = sorted((dro_root / base / "PT").iterdir())[:4]
    originals = [pydicom.dcmread(p, stop_before_pixels=True) for p in files]
    rng = random.Random(f"carpet-suv-fuzz-{base}")
    outcomes: dict[str, int] = {}
    for _ in range(150):
        dss = copy.deepcopy(originals)
        mutate(rng, dss)
        outcome = check(dss)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    # the fuzz must exercise both outcomes and several distinct refusals
    assert outcomes.get("ok", 0) > 5, outcomes
    assert len(outcomes) >= 6, outcomes
