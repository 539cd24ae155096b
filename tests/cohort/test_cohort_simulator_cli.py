"""Simulator recovers its effect; `carpet cohort` end to end (CSV, folder, simulate, errors)."""

from __future__ import annotations

import base64
import json
import re
import warnings

import numpy as np
import pandas as pd
import pytest

from carpet.clinical import prepare_cohort
from carpet.config import CohortConfig
from carpet.errors import ConfigError, StatisticalWarning
from carpet.score import compute_scores
from carpet.survival import fit_cox, run_cohort_analysis
from carpet.synthetic.cohort import SIMULATED_LABEL, simulate_cohort

FAST = ["--bootstrap", "50", "--permutations", "50"]


def test_simulator_is_deterministic_and_labelled():
    a, b = simulate_cohort(30, seed=4)
    c, d = simulate_cohort(30, seed=4)
    pd.testing.assert_frame_equal(a, c)
    pd.testing.assert_frame_equal(b, d)
    assert a["patient_id"].str.startswith("SIM-").all()
    assert a.attrs["simulated"] and b.attrs["simulation_truth"]["hr_per_log2_tmtv"] == 1.3
    # the simulated clinical table passes validation (it follows the documented schema)
    prepare_cohort(a, b)
    with pytest.raises(ConfigError, match="simulate_cohort: n must be an integer >= 2; got 1"):
        simulate_cohort(1)


@pytest.mark.slow
def test_simulator_recovers_hazard_ratio_coverage():
    """95 % CI of the adjusted HR per doubling of TMTV covers the true 1.5 in >= 85 % of 30 cohorts."""
    true_hr = 1.5
    covered, estimates = 0, []
    for seed in range(30):
        clin, bio = simulate_cohort(200, seed=seed, hr_per_log2_tmtv=true_hr)
        data, _ = compute_scores(prepare_cohort(clin, bio).data)
        data["log2_tmtv"] = np.log2(data["tmtv_ml"] + 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StatisticalWarning)
            res = fit_cox(data, "time_months", "event", ["log2_tmtv", "ipi_points"], check_ph=False)
        row = res.summary.iloc[0]
        covered += row["hr_ci_low"] <= true_hr <= row["hr_ci_high"]
        estimates.append(np.log(row["hr"]))
    assert covered >= 26
    assert abs(np.exp(np.mean(estimates)) - true_hr) < 0.1


def test_run_cohort_analysis_on_simulated_cohort():
    clin, bio = simulate_cohort(111, seed=7)
    cfg = CohortConfig(bootstrap=40, permutations=40, simulated=True, seed=1)
    res = run_cohort_analysis(clin, bio, config=cfg)
    again = run_cohort_analysis(clin, bio, config=cfg)
    pd.testing.assert_frame_equal(res.concordance, again.concordance)  # seeded: reproducible
    assert set(res.concordance["predictor"]) == {
        "tmtv_ml",
        "tlg",
        "suv_max",
        "ipi_points",
        "impi_lp",
    }
    assert res.concordance.set_index("predictor").loc["tmtv_ml", "harrell_c"] > 0.55
    assert [c.name_b for c in res.comparisons] == ["ipi_points"] * 4
    assert res.cutoff is not None and any(
        "optimised on these data" in w for w in res.statistical_warnings
    )
    assert {g.grouping for g in res.group_comparisons} >= {
        "ipi_group",
        "dean_group",
        "optimal_cutoff_group",
    }
    doc = res.to_json_dict()
    json.dumps(doc, allow_nan=False)
    assert doc["simulated"] is True and doc["simulated_label"] == SIMULATED_LABEL
    assert doc["scores"]["car_hematotox"]["verified"] is False


@pytest.mark.slow
def test_cli_cohort_simulate_writes_self_contained_report(cli, tmp_path):
    out = tmp_path / "rep"
    res = cli("cohort", "--simulate", "60", "--out", out, "--seed", "2", *FAST)
    assert res.exit_code == 0, res.stderr
    assert f"report: {out / 'report.html'}" in res.stdout
    html = (out / "report.html").read_text()
    assert SIMULATED_LABEL in html and "(SIMULATED)" in html
    assert "NOT fully verified" in html and "Optimism warning" in html
    # self-contained: no external resources, every image inlined and decodable
    assert not re.search(r'(src|href)="(?!data:|#)', html)
    imgs = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(imgs) >= 8
    assert all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in imgs)
    doc = json.loads((out / "results.json").read_text())
    assert doc["simulated"] is True and doc["n_analysed"] == 60
    for name in (
        "patients.csv",
        "excluded.csv",
        "concordance.csv",
        "cox_univariable.csv",
        "km_summary.csv",
        "td_auc.csv",
        "cutoff_scan.csv",
        "concordance_comparisons.csv",
    ):
        assert (out / name).is_file(), name


@pytest.mark.slow
def test_cli_cohort_from_csv_and_analysis_folder(cli, tmp_path):
    clin, bio = simulate_cohort(40, seed=3)
    clin.to_csv(tmp_path / "clinical.csv", index=False)
    folder = tmp_path / "analyses"
    for _, r in bio.iterrows():
        d = folder / r["patient_id"]
        d.mkdir(parents=True)
        (d / "patient.json").write_text(
            json.dumps({k: r[k] for k in ("tmtv_ml", "tlg", "suv_max")})
        )
    out = tmp_path / "out"
    res = cli(
        "cohort",
        "--clinical",
        tmp_path / "clinical.csv",
        "--biomarkers",
        folder,
        "--endpoint",
        "os",
        "--out",
        out,
        "--predictor",
        "tmtv_ml",
        "--predictor",
        "ipi_points",
        *FAST,
    )
    assert res.exit_code == 0, res.stderr
    doc = json.loads((out / "results.json").read_text())
    assert doc["endpoint"] == "os" and doc["simulated"] is False
    assert [c["predictor"] for c in doc["concordance"]] == ["tmtv_ml", "ipi_points"]
    assert doc["provenance"]["inputs"]["clinical"]["sha256"]
    assert "SIMULATED DATA" not in (out / "report.html").read_text()


def test_cli_cohort_bad_table_one_line_error_and_nothing_written(cli, tmp_path):
    clin, bio = simulate_cohort(20, seed=1)
    clin.loc[0, "hb_g_dl"] = 110.0
    clin.loc[1, "infusion_date"] = "2031-13-01"
    clin.to_csv(tmp_path / "c.csv", index=False)
    bio.to_csv(tmp_path / "b.csv", index=False)
    out = tmp_path / "out"
    res = cli(
        "cohort",
        "--clinical",
        tmp_path / "c.csv",
        "--biomarkers",
        tmp_path / "b.csv",
        "--out",
        out,
        *FAST,
    )
    assert res.exit_code == 2
    assert (
        "carpet: error [TABLE_INVALID] 2 problem(s) in the input tables; fix them all" in res.stderr
    )
    assert (
        "c.csv row 2, column 'hb_g_dl', value '110.0': unit mistake? looks like g/L" in res.stderr
    )
    assert "c.csv row 3, column 'infusion_date', value '2031-13-01': not a date" in res.stderr
    assert not out.exists()


def test_cli_cohort_usage_errors(cli, tmp_path):
    res = cli("cohort", "--out", tmp_path / "o")
    assert res.exit_code == 2
    assert (
        "carpet: error [COHORT_USAGE] carpet cohort needs --clinical CLINICAL.csv and --biomarkers"
        in res.stderr
    )
    res = cli("cohort", "--simulate", "30", "--endpoint", "efs", "--out", tmp_path / "o")
    assert res.exit_code == 2
    assert (
        "carpet: error [CONFIG_ERROR] CohortConfig.endpoint must be one of ('pfs', 'os'); got 'efs'"
        in res.stderr
    )


def test_missing_values_are_complete_case_with_counts():
    clin, bio = simulate_cohort(80, seed=5)
    clin.loc[10:19, "ldh_u_per_l"] = np.nan  # 10 patients without LDH -> no IPI
    bio.loc[:4, "tmtv_ml"] = np.nan
    cfg = CohortConfig(bootstrap=20, permutations=20)
    res = run_cohort_analysis(clin, bio, config=cfg)
    conc = res.concordance.set_index("predictor")
    assert conc.loc["ipi_points", "n"] == 70 and conc.loc["ipi_points", "n_missing"] == 10
    assert conc.loc["tmtv_ml", "n"] == 75 and conc.loc["tmtv_ml", "n_missing"] == 5
    assert len(res.data) == 80  # nobody dropped from the cohort itself
    assert res.comparisons[0].n == 65  # complete for both TMTV and IPI
    assert res.cox_multivariable.n == 65


def test_select_biomarker_timepoint():
    from carpet.cli.cohort import select_timepoint
    from carpet.errors import InputError

    bio = pd.DataFrame(
        {
            "patient_id": ["a", "a", "b"],
            "timepoint": ["baseline", "m1", "baseline"],
            "tmtv_ml": [1, 2, 3],
        }
    )
    assert select_timepoint(bio, "baseline", "p.csv")["patient_id"].tolist() == ["a", "b"]
    with pytest.raises(
        InputError, match=r"p.csv: no row with timepoint 'TD'; found \['baseline', 'm1'\]"
    ):
        select_timepoint(bio, "TD", "p.csv")
    with pytest.raises(InputError, match="has no 'timepoint' column"):
        select_timepoint(bio.drop(columns="timepoint"), "baseline", "p.csv")


@pytest.mark.slow
def test_demo_step_writes_simulated_cohort_report(tmp_path):
    import io
    from types import SimpleNamespace

    from rich.console import Console

    from carpet.cli.cohort import demo_step_cohort

    buf = io.StringIO()
    ctx = SimpleNamespace(
        out_dir=tmp_path,
        seed=0,
        results={},
        console=Console(file=buf),
        header=lambda title: buf.write(title + "\n"),
    )
    demo_step_cohort(ctx)
    report = ctx.results["cohort_report"]
    assert report == tmp_path / "cohort" / "report.html" and report.is_file()
    assert f"cohort report: {report}" in buf.getvalue().replace("\n", "")
    assert json.loads((tmp_path / "cohort" / "results.json").read_text())["simulated"] is True


@pytest.mark.slow
def test_cli_config_file_and_errors(cli, tmp_path):
    cfg = tmp_path / "cohort.toml"
    cfg.write_text(
        "[cohort]\nbootstrap = 7\npermutations = 5\nlandmark_months = 6.0\n[cohort.scores]\ndean_mtv_ml = 50.0\n"
    )
    out = tmp_path / "o"
    res = cli("cohort", "--simulate", "40", "--out", out, "--config", cfg, "--bootstrap", "9")
    assert res.exit_code == 0, res.stderr
    doc = json.loads((out / "results.json").read_text())
    assert doc["config"]["bootstrap"] == 9  # the command line wins over the file
    assert doc["config"]["permutations"] == 5 and doc["config"]["landmark_months"] == 6.0
    assert doc["config"]["scores"]["dean_mtv_ml"] == 50.0
    bad = tmp_path / "bad.toml"
    bad.write_text("[cohort]\nbootstraps = 7\n")
    res = cli("cohort", "--simulate", "40", "--out", tmp_path / "o2", "--config", bad)
    assert res.exit_code == 2
    assert (
        "[UNKNOWN_CONFIG_KEY]" in res.stderr
        and "unknown key(s) ['bootstraps'] for CohortConfig" in res.stderr
    )


def test_too_few_patients_or_events_is_a_clear_error():
    from carpet.errors import InputError

    clin, bio = simulate_cohort(30, seed=2)
    clin["death_date"] = ""  # nobody died: no OS events
    with pytest.raises(
        InputError,
        match=r"only 30 analysable patients with 0 OS events after validation \(0 excluded\)",
    ):
        run_cohort_analysis(
            clin, bio, config=CohortConfig(endpoint="os", bootstrap=5, permutations=5)
        )
    with pytest.raises(InputError, match="only 5 analysable patients"):
        run_cohort_analysis(
            clin.iloc[:5], bio.iloc[:5], config=CohortConfig(bootstrap=5, permutations=5)
        )
