"""The whole cohort analysis of ``carpet cohort``: validation, scores, statistics.

:func:`run_cohort_analysis` is pure (tables in, :class:`CohortResult` out); writing the
report and the tables is :func:`carpet.report.write_cohort_report`.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from typing import Any

import numpy as np
import pandas as pd

from carpet.clinical.validate import CohortTables, prepare_cohort
from carpet.config import CohortConfig, to_dict
from carpet.errors import InputError, StatisticalWarning
from carpet.score import SCORE_INFOS, compute_scores
from carpet.survival.concordance import (
    ConcordanceResult,
    PairedConcordanceResult,
    bootstrap_harrell_and_uno,
    compare_concordance,
)
from carpet.survival.cutoffs import CutoffResult, cross_validated_cutoff, maxstat_cutoff
from carpet.survival.estimates import (
    CoxResult,
    KaplanMeierResult,
    LogrankResult,
    fit_cox,
    kaplan_meier,
    logrank,
    logrank_trend,
)
from carpet.survival.tdauc import (
    LandmarkRocResult,
    TimeDependentAucResult,
    cumulative_dynamic_auc,
    landmark_roc,
)

__all__ = ["CohortResult", "GroupComparison", "run_cohort_analysis"]

logger = logging.getLogger(__name__)

#: Grouping columns shown as Kaplan–Meier curves, with the order of their groups.
KM_GROUPINGS: dict[str, tuple[str, ...]] = {
    "ipi_group": ("low", "low-intermediate", "high-intermediate", "high"),
    "dean_group": ("low", "high"),
    "vercellino_group": ("0 factors", "1 factor", "2 factors"),
    "car_hematotox_group": ("low", "high"),
    "nccn_ipi_group": ("low", "low-intermediate", "high-intermediate", "high"),
    "impi_cohort_group": ("lowest 60 %", "intermediate 30 %", "highest 10 %"),
}

_LABELS = {
    "age_years": "Age (years)",
    "ldh_u_per_l": "LDH (U/L)",
    "extranodal_sites": "Extranodal sites",
    "aaipi_points": "aaIPI (points)",
    "voltin_points": "Voltin (MTV > 11 mL + SUVmax > 16.7)",
    "tmtv_ml": "TMTV (mL)",
    "tlg": "TLG (g)",
    "suv_max": "SUVmax",
    "suv_peak": "SUVpeak",
    "ipi_points": "IPI (points)",
    "nccn_ipi_points": "NCCN-IPI (points)",
    "impi_lp": "IMPI (linear predictor)",
    "vercellino_points": "Vercellino (factors)",
    "dean_points": "Dean (MTV > 147.5 mL)",
    "car_hematotox_points": "CAR-HEMATOTOX (points)",
    "dmax_mm": "Dmax (mm)",
    "sdmax_per_m": "SDmax (1/m)",
    "lesion_count": "Lesion count",
}


def predictor_label(name: str) -> str:
    """Readable label of a predictor column."""
    return _LABELS.get(name, name)


@dataclasses.dataclass
class GroupComparison:
    """Kaplan–Meier curves of one grouping with its log-rank (and trend) test."""

    grouping: str
    km: KaplanMeierResult
    logrank: LogrankResult | None
    trend: LogrankResult | None
    n_missing: int


@dataclasses.dataclass
class CohortResult:
    """Everything ``carpet cohort`` computed; rendered by :mod:`carpet.report`.

    Attributes
    ----------
    config : CohortConfig
    tables : CohortTables
        Validated data, exclusions.
    data : pandas.DataFrame
        Analysed patients with score columns, ``time_months`` and ``event``.
    characteristics : pandas.DataFrame
        Cohort summary (variable, summary, n missing).
    concordance : pandas.DataFrame
        Per predictor: Harrell's and Uno's C with bootstrap CIs, n used.
    comparisons : list of PairedConcordanceResult
        Each predictor vs the reference predictor (paired bootstrap).
    cox_univariable : pandas.DataFrame
    cox_multivariable : CoxResult or None
    group_comparisons : list of GroupComparison
    tdauc : dict
        Predictor -> TimeDependentAucResult.
    roc : LandmarkRocResult or None
        Landmark ROC of the first predictor.
    cutoff : CutoffResult or None
    cv_cutoff : dict or None
    score_notes : dict
        Score name -> ScoreInfo dict (with ``verified``) or skip reason.
    statistical_warnings : list of str
    median_followup_months : float
        Reverse Kaplan–Meier median follow-up.
    """

    config: CohortConfig
    tables: CohortTables
    data: pd.DataFrame
    characteristics: pd.DataFrame
    concordance: pd.DataFrame
    comparisons: list[PairedConcordanceResult]
    cox_univariable: pd.DataFrame
    cox_multivariable: CoxResult | None
    group_comparisons: list[GroupComparison]
    tdauc: dict[str, TimeDependentAucResult]
    roc: LandmarkRocResult | None
    cutoff: CutoffResult | None
    cv_cutoff: dict[str, Any] | None
    score_notes: dict[str, Any]
    statistical_warnings: list[str]
    median_followup_months: float
    provenance: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def simulated(self) -> bool:
        """True when the input came from :func:`carpet.synthetic.cohort.simulate_cohort`."""
        return bool(self.config.simulated)

    def to_json_dict(self) -> dict[str, Any]:
        """results.json content (NaN written as null)."""
        from carpet.synthetic.cohort import SIMULATED_LABEL

        out: dict[str, Any] = {
            "simulated": self.simulated,
            "simulated_label": SIMULATED_LABEL if self.simulated else None,
            "endpoint": self.config.endpoint,
            "time_unit": "months (days / 30.4375) since CAR T infusion",
            "n_clinical_rows": self.tables.n_clinical,
            "n_biomarker_rows": self.tables.n_biomarkers,
            "n_analysed": len(self.data),
            "n_events": int(self.data["event"].sum()),
            "median_followup_months": self.median_followup_months,
            "excluded": self.tables.excluded.to_dict(orient="records"),
            "characteristics": self.characteristics.to_dict(orient="records"),
            "concordance": self.concordance.to_dict(orient="records"),
            "concordance_comparisons": [c.to_dict() for c in self.comparisons],
            "cox_univariable": self.cox_univariable.to_dict(orient="records"),
            "cox_multivariable": self.cox_multivariable.to_dict()
            if self.cox_multivariable
            else None,
            "kaplan_meier": [
                {
                    "grouping": g.grouping,
                    "summary": g.km.summary.to_dict(orient="records"),
                    "at_risk": {str(k): v for k, v in g.km.at_risk.to_dict(orient="index").items()},
                    "logrank": g.logrank.to_dict() if g.logrank else None,
                    "trend": g.trend.to_dict() if g.trend else None,
                    "n_missing": g.n_missing,
                }
                for g in self.group_comparisons
            ],
            "time_dependent_auc": {k: v.to_dict() for k, v in self.tdauc.items()},
            "landmark_roc": self.roc.to_dict() if self.roc else None,
            "cutoff": self.cutoff.to_dict() if self.cutoff else None,
            "cv_cutoff": (
                {k: v for k, v in self.cv_cutoff.items() if k != "high"} if self.cv_cutoff else None
            ),
            "scores": self.score_notes,
            "statistical_warnings": self.statistical_warnings,
            "config": to_dict(self.config),
            "provenance": self.provenance,
        }
        return _jsonable(out)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, pd.Timestamp):
        return obj.isoformat()
    if obj is None or isinstance(obj, (str, int)):
        return obj
    if obj is pd.NaT or (not isinstance(obj, (str, bytes)) and pd.isna(obj)):
        return None
    return str(obj)


def _characteristics(d: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for col in (
        "age_years",
        "tmtv_ml",
        "tlg",
        "suv_max",
        "ldh_u_per_l",
        "extranodal_sites",
        "ipi_points",
        "car_hematotox_points",
        "impi_lp",
    ):
        if col in d.columns:
            v = pd.to_numeric(d[col], errors="coerce")
            ok = v.dropna()
            summ = (
                f"{ok.median():.3g} [{ok.quantile(0.25):.3g}–{ok.quantile(0.75):.3g}]"
                if len(ok)
                else "–"
            )
            rows.append(
                {
                    "variable": predictor_label(col),
                    "summary": f"median [IQR] {summ}",
                    "n_missing": int(v.isna().sum()),
                }
            )
    for col in (
        "sex",
        "ecog",
        "ann_arbor_stage",
        "product",
        "bridging",
        "ipi_group",
        "car_hematotox_group",
    ):
        if col in d.columns:
            counts = d[col].value_counts(dropna=True).sort_index()
            text = ", ".join(
                f"{_fmt_cat(k)}: {int(c)} ({100 * c / len(d):.0f} %)" for k, c in counts.items()
            )
            rows.append({"variable": col, "summary": text, "n_missing": int(d[col].isna().sum())})
    return pd.DataFrame(rows, columns=["variable", "summary", "n_missing"])


def _fmt_cat(k: object) -> str:
    if isinstance(k, float) and k.is_integer():
        return str(int(k))
    return str(k)


def _reverse_km_median(t: np.ndarray, e: np.ndarray) -> float:
    from lifelines import KaplanMeierFitter

    kmf = KaplanMeierFitter().fit(t, 1 - e)
    return float(kmf.median_survival_time_)


def run_cohort_analysis(
    clinical: pd.DataFrame,
    biomarkers: pd.DataFrame,
    *,
    config: CohortConfig | None = None,
    clinical_name: str = "clinical",
    biomarkers_name: str = "biomarkers",
    progress=None,
) -> CohortResult:
    """Validate the tables, compute scores and run every cohort statistic.

    Parameters
    ----------
    clinical, biomarkers : pandas.DataFrame
        Raw tables (:func:`carpet.clinical.read_table`, :func:`carpet.clinical.read_biomarkers`)
        or the frames of :func:`carpet.synthetic.cohort.simulate_cohort`.
    config : CohortConfig, optional
        Endpoint, predictors, seed, bootstrap/permutation counts, landmark times.
    clinical_name, biomarkers_name : str
        Names used in validation messages.
    progress : callable, optional
        Called with a short text before each step (no-op by default).

    Returns
    -------
    CohortResult

    Raises
    ------
    TableValidationError
        When the tables have fatal problems (all listed).
    InputError
        ``TOO_FEW_PATIENTS`` with fewer than 10 analysable patients or no events.

    Notes
    -----
    Complete-case analysis per statistic; the number of patients used is reported with each.
    Continuous predictors named in ``config.log2_predictors`` enter Cox models as
    ``log2(x + 1)`` (HR per doubling). Everything random is seeded from ``config.seed``.

    References
    ----------
    See :mod:`carpet.survival.concordance`, :mod:`carpet.survival.tdauc`,
    :mod:`carpet.survival.cutoffs`, :mod:`carpet.survival.estimates`.

    Examples
    --------
    >>> from carpet.synthetic.cohort import simulate_cohort
    >>> clin, bio = simulate_cohort(60, seed=3)
    >>> cfg = CohortConfig(bootstrap=20, permutations=20, simulated=True)
    >>> res = run_cohort_analysis(clin, bio, config=cfg)
    >>> len(res.data), res.simulated
    (60, True)
    """
    cfg = config or CohortConfig()
    say = progress or (lambda _msg: None)
    caught: list[str] = []

    def note(msg: str) -> None:
        if msg not in caught:
            caught.append(msg)

    say("validating tables")
    tables = prepare_cohort(
        clinical,
        biomarkers,
        endpoint=cfg.endpoint,
        clinical_name=clinical_name,
        biomarkers_name=biomarkers_name,
    )
    say("computing scores")
    data, skipped = compute_scores(tables.data, cfg.scores)
    n_ev = int(data["event"].sum()) if len(data) else 0
    if len(data) < 10 or n_ev == 0:
        raise InputError(
            f"only {len(data)} analysable patients with {n_ev} {cfg.endpoint.upper()} events after validation "
            f"({len(tables.excluded)} excluded); need at least 10 patients and 1 event",
            code="TOO_FEW_PATIENTS",
        )
    score_notes: dict[str, Any] = {}
    for name, info in SCORE_INFOS.items():
        score_notes[name] = info.to_dict() | {
            "computed": name not in skipped,
            "skip_reason": skipped.get(name),
        }
    t_all = data["time_months"].to_numpy(float)
    e_all = data["event"].to_numpy(float)

    with warnings.catch_warnings(record=True) as wlist:
        warnings.simplefilter("always", StatisticalWarning)
        predictors = [p for p in cfg.predictors if p in data.columns]
        for p in cfg.predictors:
            if p not in data.columns:
                note(f"predictor {p!r} is not in the data and was skipped")
        # --- discrimination
        say("concordance (bootstrap)")
        rows = []
        for k, p in enumerate(predictors):
            m = data[p].notna().to_numpy()
            if m.sum() < 10 or e_all[m].sum() == 0:
                note(f"predictor {p!r}: only {int(m.sum())} complete cases; skipped")
                continue
            h, u = bootstrap_harrell_and_uno(
                t_all[m],
                e_all[m],
                data.loc[m, p],
                n_bootstrap=cfg.bootstrap,
                confidence_level=cfg.confidence_level,
                seed=cfg.seed + k,
                tau=cfg.uno_tau_months,
            )
            rows.append(_c_row(p, h, u, int((~m).sum())))
        concordance = pd.DataFrame(rows)
        comparisons = []
        ref = cfg.reference_predictor
        if ref in data.columns and cfg.bootstrap >= 2:
            for k, p in enumerate(x for x in predictors if x != ref):
                m = (data[p].notna() & data[ref].notna()).to_numpy()
                if m.sum() < 10 or e_all[m].sum() == 0:
                    continue
                comparisons.append(
                    compare_concordance(
                        t_all[m],
                        e_all[m],
                        data.loc[m, p],
                        data.loc[m, ref],
                        name_a=p,
                        name_b=ref,
                        n_bootstrap=cfg.bootstrap,
                        confidence_level=cfg.confidence_level,
                        seed=cfg.seed + 100 + k,
                    )
                )
        elif ref not in data.columns:
            note(f"reference predictor {ref!r} not available: no C-index comparison")
        say("time-dependent AUC")
        tdauc = {}
        for k, p in enumerate(predictors):
            m = data[p].notna().to_numpy()
            if m.sum() >= 10:
                tdauc[p] = cumulative_dynamic_auc(
                    t_all[m],
                    e_all[m],
                    data.loc[m, p],
                    cfg.tdauc_times_months,
                    n_bootstrap=cfg.bootstrap,
                    confidence_level=cfg.confidence_level,
                    seed=cfg.seed + 200 + k,
                )
        roc = None
        if predictors:
            p0 = predictors[0]
            m = data[p0].notna().to_numpy()
            try:
                roc = landmark_roc(
                    t_all[m],
                    e_all[m],
                    data.loc[m, p0],
                    cfg.landmark_months,
                    n_bootstrap=cfg.bootstrap,
                    confidence_level=cfg.confidence_level,
                    seed=cfg.seed + 300,
                )
            except InputError as exc:
                note(f"landmark ROC not computed: {exc}")
        # --- Cox
        say("Cox models")
        cox_rows = []
        for p in predictors:
            col, unit = _cox_column(data, p, cfg)
            m = data[p].notna()
            d = data.loc[m, ["time_months", "event"]].assign(
                **{col: _cox_values(data.loc[m, p], p, cfg)}
            )
            try:
                r = fit_cox(
                    d,
                    "time_months",
                    "event",
                    [col],
                    units={col: unit},
                    confidence_level=cfg.confidence_level,
                )
            except Exception as exc:  # noqa: BLE001 - lifelines convergence errors vary
                note(f"Cox model for {p!r} failed: {exc}")
                continue
            cox_rows.append(
                r.summary.iloc[0].to_dict() | {"predictor": p, "n": r.n, "n_events": r.n_events}
            )
        cox_uni = pd.DataFrame(cox_rows)
        cox_multi = None
        first_cont = next((p for p in predictors if p in cfg.log2_predictors), None)
        if first_cont and ref in data.columns:
            m = data[first_cont].notna() & data[ref].notna()
            col, unit = _cox_column(data, first_cont, cfg)
            d = data.loc[m, ["time_months", "event", ref]].assign(
                **{col: _cox_values(data.loc[m, first_cont], first_cont, cfg)}
            )
            try:
                cox_multi = fit_cox(
                    d,
                    "time_months",
                    "event",
                    [col, ref],
                    units={col: unit, ref: f"1 point of {predictor_label(ref)}"},
                    confidence_level=cfg.confidence_level,
                )
            except Exception as exc:  # noqa: BLE001
                note(f"multivariable Cox model failed: {exc}")
        # --- cut-off
        say("cut-off search")
        cutoff = cv = None
        cp = cfg.cutoff_predictor
        if cp in data.columns:
            m = data[cp].notna().to_numpy()
            try:
                cutoff = maxstat_cutoff(
                    t_all[m],
                    e_all[m],
                    data.loc[m, cp],
                    minprop=cfg.minprop,
                    n_permutations=cfg.permutations,
                    seed=cfg.seed + 400,
                )
                cv = cross_validated_cutoff(
                    t_all[m],
                    e_all[m],
                    data.loc[m, cp],
                    n_folds=cfg.cv_folds,
                    minprop=cfg.minprop,
                    seed=cfg.seed + 500,
                )
                data.loc[m, "optimal_cutoff_group"] = np.where(
                    data.loc[m, cp] > cutoff.cutoff, "high", "low"
                )
            except InputError as exc:
                note(f"cut-off search not possible: {exc}")
        # --- Cox on dichotomised biomarkers (published cut-offs, and the optimised one)
        sc = cfg.scores
        binary = [
            ("dean_points", f"Dean: MTV > {sc.dean_mtv_ml:g} mL vs not"),
            ("voltin_mtv_high", f"Voltin: MTV > {sc.voltin_mtv_ml:g} mL vs not"),
            ("vercellino_points", "Vercellino: per risk factor (0-2)"),
        ]
        if cutoff is not None:
            data["optimal_cutoff_high"] = np.where(
                data[cp].notna(), (data[cp] > cutoff.cutoff).astype(float), np.nan
            )
            binary.append(
                (
                    "optimal_cutoff_high",
                    f"{predictor_label(cp)} > {cutoff.cutoff:.4g} (optimised: optimistic)",
                )
            )
        extra = []
        for p, unit in binary:
            if p not in data.columns or data[p].nunique(dropna=True) < 2:
                continue
            m = data[p].notna()
            d = data.loc[m, ["time_months", "event", p]]
            try:
                r = fit_cox(
                    d,
                    "time_months",
                    "event",
                    [p],
                    units={p: unit},
                    confidence_level=cfg.confidence_level,
                )
            except Exception as exc:  # noqa: BLE001
                note(f"Cox model for {p!r} failed: {exc}")
                continue
            extra.append(
                r.summary.iloc[0].to_dict() | {"predictor": p, "n": r.n, "n_events": r.n_events}
            )
        if extra:
            cox_uni = pd.concat([cox_uni, pd.DataFrame(extra)], ignore_index=True)
        # --- KM by group
        say("Kaplan–Meier")
        groups = []
        groupings = dict(KM_GROUPINGS)
        if "optimal_cutoff_group" in data.columns:
            groupings["optimal_cutoff_group"] = ("low", "high")
        for g, order in groupings.items():
            if g not in data.columns:
                continue
            m = data[g].notna().to_numpy()
            if m.sum() < 2:
                continue
            labels = data.loc[m, g].to_numpy()
            km = kaplan_meier(
                t_all[m],
                e_all[m],
                labels,
                at_risk_times=cfg.km_times_months,
                survival_times=(cfg.landmark_months,),
                confidence_level=cfg.confidence_level,
            )
            present = [x for x in order if x in set(labels)]
            lr = tr = None
            if len(present) >= 2:
                lr = logrank(t_all[m], e_all[m], labels)
                if len(present) >= 3:
                    tr = logrank_trend(
                        t_all[m], e_all[m], labels, {x: order.index(x) for x in present}
                    )
            groups.append(GroupComparison(g, km, lr, tr, int((~m).sum())))
        for w in wlist:
            if issubclass(w.category, StatisticalWarning):
                note(str(w.message))
    fu = _reverse_km_median(t_all, e_all)
    from carpet.report.provenance import software_versions

    prov = {"software": software_versions(), "seed": cfg.seed}
    return CohortResult(
        cfg,
        tables,
        data,
        _characteristics(data),
        concordance,
        comparisons,
        cox_uni,
        cox_multi,
        groups,
        tdauc,
        roc,
        cutoff,
        cv,
        score_notes,
        caught,
        fu,
        prov,
    )


def _c_row(p: str, h: ConcordanceResult, u: ConcordanceResult, n_missing: int) -> dict[str, Any]:
    return {
        "predictor": p,
        "label": predictor_label(p),
        "n": h.n,
        "n_events": h.n_events,
        "n_missing": n_missing,
        "harrell_c": h.estimate,
        "harrell_ci_low": h.ci_low,
        "harrell_ci_high": h.ci_high,
        "uno_c": u.estimate,
        "uno_ci_low": u.ci_low,
        "uno_ci_high": u.ci_high,
    }


def _cox_column(data: pd.DataFrame, p: str, cfg: CohortConfig) -> tuple[str, str]:
    if p in cfg.log2_predictors:
        return f"log2_{p}_plus1", f"doubling of {predictor_label(p)} (log2(x + 1))"
    return p, f"1 unit of {predictor_label(p)}"


def _cox_values(values: pd.Series, p: str, cfg: CohortConfig) -> np.ndarray:
    v = values.to_numpy(float)
    return np.log2(v + 1) if p in cfg.log2_predictors else v
