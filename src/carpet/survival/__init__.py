"""Outcome statistics on tables: Kaplan–Meier, log-rank, Cox (lifelines as the engine),
concordance (Harrell, Uno, paired bootstrap), time-dependent AUC, landmark ROC, cut-offs,
and the whole cohort analysis of ``carpet cohort``.

Risk convention everywhere: higher predictor value = higher risk.
"""

from carpet.survival.analysis import CohortResult, GroupComparison, run_cohort_analysis
from carpet.survival.concordance import (
    ConcordanceResult,
    PairedConcordanceResult,
    bootstrap_concordance,
    compare_concordance,
    harrell_c,
    uno_c,
)
from carpet.survival.cutoffs import (
    CutoffResult,
    cross_validated_cutoff,
    lausen_schumacher_p,
    maxstat_cutoff,
)
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

__all__ = [
    "CohortResult",
    "ConcordanceResult",
    "CoxResult",
    "CutoffResult",
    "GroupComparison",
    "KaplanMeierResult",
    "LandmarkRocResult",
    "LogrankResult",
    "PairedConcordanceResult",
    "TimeDependentAucResult",
    "bootstrap_concordance",
    "compare_concordance",
    "cross_validated_cutoff",
    "cumulative_dynamic_auc",
    "fit_cox",
    "harrell_c",
    "kaplan_meier",
    "landmark_roc",
    "lausen_schumacher_p",
    "logrank",
    "logrank_trend",
    "maxstat_cutoff",
    "run_cohort_analysis",
    "uno_c",
]
