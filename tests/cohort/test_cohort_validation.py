"""Clinical/biomarker table validation: one test per rule with the exact message."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from carpet.clinical import prepare_cohort, read_biomarkers, read_table, validate_clinical
from carpet.errors import InputError, TableValidationError

T = "clinical.csv"


def _row(**kw):
    base = {
        "patient_id": "P1",
        "age_years": "64",
        "sex": "F",
        "ldh_u_per_l": "300",
        "ldh_uln_u_per_l": "250",
        "ecog": "1",
        "ann_arbor_stage": "III",
        "extranodal_sites": "2",
        "crp_mg_dl": "2.5",
        "hb_g_dl": "11.2",
        "anc_10e9_l": "2.1",
        "platelets_10e9_l": "150",
        "ferritin_ng_ml": "700",
        "height_cm": "170",
        "infusion_date": "2022-01-10",
        "progression_date": "2022-04-01",
        "death_date": "",
        "last_followup_date": "2022-06-01",
    }
    base.update(kw)
    return base


def _problems(**kw):
    raw = pd.DataFrame([_row(), _row(**({"patient_id": "P2"} | kw))])
    _, problems = validate_clinical(raw, table=T)
    return [str(p) for p in problems]


def test_valid_row_has_no_problem():
    typed, problems = validate_clinical(pd.DataFrame([_row()]), table=T)
    assert problems == []
    assert typed["ann_arbor_stage"].iloc[0] == 3.0
    assert typed["infusion_date"].iloc[0] == pd.Timestamp("2022-01-10")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"patient_id": ""},
            "clinical.csv row 3, column 'patient_id', value '': required value is missing",
        ),
        (
            {"age_years": "sixty"},
            "clinical.csv row 3, column 'age_years', value 'sixty': not a number (expected years)",
        ),
        (
            {"age_years": "150"},
            "clinical.csv row 3, column 'age_years', value '150': impossible value: expected 18-110 years",
        ),
        (
            {"ecog": "5"},
            "clinical.csv row 3, column 'ecog', value '5': impossible value: expected 0-4",
        ),
        (
            {"ecog": "1.5"},
            "clinical.csv row 3, column 'ecog', value '1.5': expected a whole number",
        ),
        (
            {"ann_arbor_stage": "V"},
            "clinical.csv row 3, column 'ann_arbor_stage', value 'V': Ann Arbor stage must be 1-4 (or I-IV)",
        ),
        ({"sex": "X"}, "clinical.csv row 3, column 'sex', value 'X': sex must be M or F"),
        (
            {"extranodal_sites": "-1"},
            "clinical.csv row 3, column 'extranodal_sites', value '-1': impossible value: expected 0-30 count",
        ),
        (
            {"ldh_u_per_l": "1.8"},
            "clinical.csv row 3, column 'ldh_u_per_l', value '1.8': unit mistake? looks like a ratio to the upper "
            "limit of normal or µkat/L, not U/L; give LDH in U/L (1 µkat/L = 60 U/L) and the ULN in ldh_uln_u_per_l",
        ),
        (
            {"ldh_uln_u_per_l": "4.1"},
            "clinical.csv row 3, column 'ldh_uln_u_per_l', value '4.1': unit mistake? looks like µkat/L, not U/L "
            "(1 µkat/L = 60 U/L)",
        ),
        (
            {"crp_mg_dl": "85"},
            "clinical.csv row 3, column 'crp_mg_dl', value '85': unit mistake? looks like mg/L; give CRP in mg/dL "
            "(divide by 10)",
        ),
        (
            {"hb_g_dl": "95"},
            "clinical.csv row 3, column 'hb_g_dl', value '95': unit mistake? looks like g/L; give haemoglobin in g/dL "
            "(divide by 10)",
        ),
        (
            {"anc_10e9_l": "1500"},
            "clinical.csv row 3, column 'anc_10e9_l', value '1500': unit mistake? looks like cells/µL; give ANC in "
            "10^9/L (divide by 1000)",
        ),
        (
            {"platelets_10e9_l": "150000"},
            "clinical.csv row 3, column 'platelets_10e9_l', value '150000': unit mistake? looks like cells/µL; give "
            "platelets in 10^9/L (divide by 1000)",
        ),
        (
            {"height_cm": "1.7"},
            "clinical.csv row 3, column 'height_cm', value '1.7': unit mistake? looks like metres; give the height in "
            "cm (multiply by 100)",
        ),
        (
            {"infusion_date": "10/13/2022"},
            "clinical.csv row 3, column 'infusion_date', value '10/13/2022': not a date; use ISO 8601 YYYY-MM-DD",
        ),
        (
            {"last_followup_date": "2021-12-31", "progression_date": ""},
            "clinical.csv row 3, column 'last_followup_date', value '2021-12-31': date is before the infusion date "
            "2022-01-10",
        ),
        (
            {"progression_date": "2022-01-01"},
            "clinical.csv row 3, column 'progression_date', value '2022-01-01': date is before the infusion date "
            "2022-01-10",
        ),
        (
            {"death_date": "2022-03-01"},
            "clinical.csv row 3, column 'death_date', value '2022-03-01': death is before progression (2022-04-01)",
        ),
        (
            {"last_followup_date": "2022-03-01"},
            "clinical.csv row 3, column 'last_followup_date', value '2022-03-01': last follow-up is before progression "
            "(2022-04-01); last follow-up must be the latest assessment",
        ),
    ],
)
def test_each_rule_exact_message(change, message):
    assert _problems(**change) == [message]


def test_duplicate_ids_and_missing_required_column():
    raw = pd.DataFrame([_row(), _row()])
    _, problems = validate_clinical(raw, table=T)
    assert [str(p) for p in problems] == [
        "clinical.csv row 3, column 'patient_id', value 'P1': duplicate patient id (also on row 2)"
    ]
    _, problems = validate_clinical(pd.DataFrame({"age_years": ["60"]}), table=T)
    assert [str(p) for p in problems] == [
        "clinical.csv, column 'patient_id': required column is missing (columns found: ['age_years'])"
    ]


def test_event_without_duration():
    raw = pd.DataFrame([{"patient_id": "P1", "pfs_event": "1", "pfs_months": ""}])
    _, problems = validate_clinical(raw, table=T)
    assert [str(p) for p in problems] == [
        "clinical.csv row 2, column 'pfs_months', value '': pfs_event is given but pfs_months is missing"
    ]


def test_all_problems_reported_at_once():
    clin = pd.DataFrame([_row(age_years="abc", hb_g_dl="120"), _row(patient_id="P2", ecog="7")])
    bio = pd.DataFrame({"patient_id": ["P1", "P1"], "tmtv_ml": ["-3", "x"]})
    with pytest.raises(TableValidationError) as exc:
        prepare_cohort(clin, bio, clinical_name="c.csv", biomarkers_name="b.csv")
    msgs = [str(p) for p in exc.value.problems]
    assert msgs == [
        "c.csv row 2, column 'age_years', value 'abc': not a number (expected years)",
        "c.csv row 2, column 'hb_g_dl', value '120': unit mistake? looks like g/L; give haemoglobin in g/dL "
        "(divide by 10)",
        "c.csv row 3, column 'ecog', value '7': impossible value: expected 0-4",
        "b.csv row 2, column 'tmtv_ml', value '-3': impossible value: must be >= 0",
        "b.csv row 3, column 'patient_id', value 'P1': duplicate patient id (also on row 2); keep one baseline "
        "row per patient (carpet cohort --biomarker-timepoint selects one timepoint)",
        "b.csv row 3, column 'tmtv_ml', value 'x': not a number",
    ]
    assert exc.value.code == "TABLE_INVALID"
    assert str(exc.value).startswith("6 problem(s) in the input tables; fix them all and rerun:")


def test_exclusions_are_listed_not_silently_dropped():
    clin = pd.DataFrame(
        [
            _row(),
            _row(patient_id="P2"),
            _row(patient_id="P3", last_followup_date="", progression_date=""),
        ]
    )
    bio = pd.DataFrame({"patient_id": ["P1", "P3", "P9"], "tmtv_ml": ["10", "20", "30"]})
    res = prepare_cohort(clin, bio, clinical_name="c.csv", biomarkers_name="b.csv")
    assert res.data["patient_id"].tolist() == ["P1"]
    assert res.excluded.to_dict(orient="records") == [
        {"patient_id": "P2", "table": "c.csv", "reason": "in the clinical table only"},
        {"patient_id": "P9", "table": "b.csv", "reason": "in the biomarker table only"},
        {
            "patient_id": "P3",
            "table": "c.csv",
            "reason": "no usable PFS: no PFS event date and no last_followup_date",
        },
    ]


def test_endpoints_from_dates():
    clin = pd.DataFrame(
        [
            _row(),  # progression 2022-04-01 -> 81 days
            _row(
                patient_id="P2", progression_date="", death_date="", last_followup_date="2022-07-10"
            ),
            _row(
                patient_id="P3",
                progression_date="",
                death_date="2022-02-09",
                last_followup_date="2022-02-09",
            ),
        ]
    )
    bio = pd.DataFrame({"patient_id": ["P1", "P2", "P3"], "tmtv_ml": ["1", "2", "3"]})
    pfs = prepare_cohort(clin, bio, endpoint="pfs").data.set_index("patient_id")
    assert pfs.loc["P1", "time_months"] == pytest.approx(81 / 30.4375)
    assert pfs["event"].tolist() == [1.0, 0.0, 1.0]
    assert pfs.loc["P2", "time_months"] == pytest.approx(181 / 30.4375)
    os_ = prepare_cohort(clin, bio, endpoint="os").data.set_index("patient_id")
    assert os_["event"].tolist() == [0.0, 0.0, 1.0]  # P1 progressed but is alive
    assert os_.loc["P1", "time_months"] == pytest.approx(142 / 30.4375)


def test_read_csv_excel_and_analysis_folder(tmp_path):
    df = pd.DataFrame([_row()])
    df.to_csv(tmp_path / "c.csv", index=False)
    df.to_excel(tmp_path / "c.xlsx", index=False)
    a, b = read_table(tmp_path / "c.csv"), read_table(tmp_path / "c.xlsx")
    assert a["ecog"].iloc[0] == "1" and b["patient_id"].iloc[0] == "P1"
    for name, pid in (("case-a", None), ("case-b", "P7")):
        d = tmp_path / "analyses" / name
        d.mkdir(parents=True)
        payload = {"tmtv_ml": 12.5, "suv_max": 9.1, "lesion_count": 3, "lesions": [{"x": 1}]}
        if pid:
            payload["patient_id"] = pid
        (d / "patient.json").write_text(json.dumps(payload))
    bio = read_biomarkers(tmp_path / "analyses")
    assert bio["patient_id"].tolist() == ["case-a", "P7"]
    assert bio["tmtv_ml"].tolist() == [12.5, 12.5]
    with pytest.raises(InputError, match="no patient.json found in it or its sub-folders"):
        read_biomarkers(tmp_path)
    with pytest.raises(InputError, match="table not found"):
        read_table(tmp_path / "missing.csv")


def test_documented_schema_matches_code():
    from pathlib import Path

    from carpet.clinical import clinical_schema_markdown

    doc = (Path(__file__).resolve().parents[2] / "docs" / "clinical-table.md").read_text(
        encoding="utf-8"
    )
    assert clinical_schema_markdown() in doc
