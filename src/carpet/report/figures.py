"""Figures of the cohort report (matplotlib, Agg backend), returned as PNG bytes.

Each function takes result objects and returns the encoded image; nothing is written to
disk here. Colours are the colour-blind-safe Okabe–Ito palette.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

__all__ = [
    "cindex_figure",
    "cutoff_figure",
    "forest_figure",
    "km_figure",
    "roc_figure",
    "score_distribution_figure",
    "tdauc_figure",
]

OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _plain_log_ticks(ax) -> None:
    """Readable ticks (0.5, 1, 2, 5, 10 ...) on a log x axis, no minor labels."""
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator, ScalarFormatter

    lo, hi = ax.get_xlim()
    ticks = [m * 10.0**e for e in range(-3, 6) for m in (1, 2, 5) if lo <= m * 10.0**e <= hi]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    fmt = ScalarFormatter()
    fmt.set_scientific(False)
    ax.xaxis.set_major_formatter(fmt)
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return buf.getvalue()


def km_figure(
    km, order, *, title: str, time_label: str = "Months since infusion", p_text: str = ""
) -> bytes:
    """Kaplan–Meier curves with 95 % CI bands and a number-at-risk table below.

    Parameters
    ----------
    km : KaplanMeierResult
    order : sequence of str
        Group order (legend and table rows).
    title : str
    time_label : str
    p_text : str
        Test result printed in the plot (e.g. "log-rank p = 0.003").
    """
    plt = _plt()
    groups = [g for g in order if g in km.curves] + [g for g in km.curves if g not in order]
    fig = plt.figure(figsize=(7.5, 4.2 + 0.22 * len(groups)))
    gs = fig.add_gridspec(2, 1, height_ratios=[4, 0.5 + 0.28 * len(groups)], hspace=0.35)
    ax = fig.add_subplot(gs[0])
    times = list(km.at_risk.columns)
    for k, g in enumerate(groups):
        c = km.curves[g]
        col = OKABE_ITO[k % len(OKABE_ITO)]
        n = int(km.summary.loc[km.summary["group"] == g, "n"].iloc[0])
        ax.step(c["time"], c["survival"], where="post", color=col, lw=2, label=f"{g} (n={n})")
        ax.fill_between(c["time"], c["ci_low"], c["ci_high"], step="post", color=col, alpha=0.12)
    ax.set_ylim(0, 1.02)
    ax.set_xlim(0, max(times) if times else None)
    ax.set_ylabel("Probability")
    ax.set_title(title, fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8, frameon=False)
    if p_text:
        ax.text(0.98, 0.95, p_text, transform=ax.transAxes, ha="right", va="top", fontsize=9)
    tab = fig.add_subplot(gs[1], sharex=ax)
    tab.set_axis_off()
    tab.text(
        -0.05,
        1.0,
        "At risk",
        transform=tab.transAxes,
        ha="right",
        va="bottom",
        fontsize=8,
        weight="bold",
    )
    for k, g in enumerate(groups):
        y = 1 - (k + 1) / (len(groups) + 0.3)
        tab.text(
            -0.05,
            y,
            g,
            transform=tab.transAxes,
            ha="right",
            va="center",
            fontsize=8,
            color=OKABE_ITO[k % len(OKABE_ITO)],
        )
        for t in times:
            tab.text(
                t,
                y,
                str(int(km.at_risk.loc[g, t])),
                transform=tab.get_xaxis_transform(),
                ha="center",
                va="center",
                fontsize=8,
            )
    if times:
        ax.set_xticks(times)
    ax.set_xlabel(time_label)
    return _png(fig)


def forest_figure(cox: pd.DataFrame, *, title: str = "Univariable Cox models") -> bytes:
    """Forest plot of hazard ratios with CIs on a log axis (one row per predictor)."""
    plt = _plt()
    n = len(cox)
    fig, ax = plt.subplots(figsize=(7.5, 0.9 + 0.45 * max(n, 1)))
    for k, (_, r) in enumerate(cox.iterrows()):
        y = n - 1 - k
        ax.plot([r["hr_ci_low"], r["hr_ci_high"]], [y, y], color=OKABE_ITO[0], lw=2)
        ax.plot(r["hr"], y, "s", color=OKABE_ITO[0], ms=7)
        ax.text(
            1.02,
            y,
            f"{r['hr']:.2f} ({r['hr_ci_low']:.2f}–{r['hr_ci_high']:.2f}), p={r['p_value']:.3g}",
            transform=ax.get_yaxis_transform(),
            va="center",
            fontsize=8,
        )
    ax.axvline(1, color="grey", ls="--", lw=1)
    ax.set_xscale("log")
    _plain_log_ticks(ax)
    ax.set_yticks(range(n))
    ax.set_yticklabels([str(u) for u in cox["unit"][::-1]] if n else [], fontsize=8)
    ax.set_xlabel("Hazard ratio (log scale)")
    ax.set_title(title, fontsize=11)
    ax.grid(alpha=0.3, axis="x")
    return _png(fig)


def cindex_figure(conc: pd.DataFrame) -> bytes:
    """Harrell's and Uno's C with bootstrap CIs per predictor."""
    plt = _plt()
    n = len(conc)
    fig, ax = plt.subplots(figsize=(7.5, 0.9 + 0.5 * max(n, 1)))
    for k, (_, r) in enumerate(conc.iterrows()):
        y = n - 1 - k
        for off, key, col, lab in (
            (0.12, "harrell", OKABE_ITO[0], "Harrell"),
            (-0.12, "uno", OKABE_ITO[1], "Uno"),
        ):
            ax.plot([r[f"{key}_ci_low"], r[f"{key}_ci_high"]], [y + off, y + off], color=col, lw=2)
            ax.plot(r[f"{key}_c"], y + off, "o", color=col, label=lab if k == 0 else None)
    ax.axvline(0.5, color="grey", ls="--", lw=1)
    ax.set_yticks(range(n))
    ax.set_yticklabels(list(conc["label"][::-1]) if n else [], fontsize=8)
    ax.set_xlabel("Concordance index (0.5 = no discrimination)")
    ax.set_xlim(0.3, 1.0)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    ax.grid(alpha=0.3, axis="x")
    return _png(fig)


def roc_figure(roc, *, label: str) -> bytes:
    """Landmark ROC curve with the Youden point."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    ax.plot(roc.fpr, roc.tpr, color=OKABE_ITO[0], lw=2, label=f"{label}: AUC {roc.auc:.2f}")
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1)
    ax.plot(
        1 - roc.specificity,
        roc.sensitivity,
        "o",
        color=OKABE_ITO[1],
        label=f"Youden cut-off {roc.youden_cutoff:.3g}",
    )
    ax.set_xlabel("1 − specificity")
    ax.set_ylabel("Sensitivity")
    ax.set_title(f"Event by {roc.landmark:g} months", fontsize=11)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    return _png(fig)


def tdauc_figure(tdauc: dict, labels: dict[str, str]) -> bytes:
    """Time-dependent AUC with CIs at each evaluation time, one series per predictor."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    names = list(tdauc)
    width = 0.8 / max(len(names), 1)
    for k, name in enumerate(names):
        r = tdauc[name]
        x = np.arange(len(r.times)) + (k - (len(names) - 1) / 2) * width
        auc = np.asarray(r.auc, float)
        lo, hi = np.asarray(r.ci_low, float), np.asarray(r.ci_high, float)
        ax.errorbar(
            x,
            auc,
            yerr=[np.nan_to_num(auc - lo), np.nan_to_num(hi - auc)],
            fmt="o",
            capsize=3,
            color=OKABE_ITO[k % len(OKABE_ITO)],
            label=labels.get(name, name),
        )
    if names:
        ax.set_xticks(range(len(tdauc[names[0]].times)))
        ax.set_xticklabels([f"{t:g} mo" for t in tdauc[names[0]].times])
    ax.axhline(0.5, color="grey", ls="--", lw=1)
    ax.set_ylim(0.3, 1.0)
    ax.set_ylabel("Cumulative/dynamic AUC")
    ax.legend(fontsize=8, frameon=False, ncol=2)
    ax.grid(alpha=0.3, axis="y")
    return _png(fig)


def cutoff_figure(cut, *, label: str) -> bytes:
    """Standardised log-rank statistic over candidate cut-offs (maximally selected)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    ax.plot(cut.candidates, np.abs(cut.statistics), color=OKABE_ITO[0], lw=1.5)
    ax.axvline(cut.cutoff, color=OKABE_ITO[1], ls="--", label=f"optimised cut-off {cut.cutoff:.3g}")
    if min(cut.candidates) > 0 and max(cut.candidates) / min(cut.candidates) > 20:
        ax.set_xscale("log")
        _plain_log_ticks(ax)
    ax.set_xlabel(label)
    ax.set_ylabel("|standardised log-rank statistic|")
    ax.legend(fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    return _png(fig)


def score_distribution_figure(
    data: pd.DataFrame, columns: list[str], labels: dict[str, str]
) -> bytes:
    """Bar charts of the distribution of each integer score (patients per point value)."""
    plt = _plt()
    cols = [c for c in columns if c in data.columns and data[c].notna().any()]
    fig, axes = plt.subplots(
        1, max(len(cols), 1), figsize=(2.6 * max(len(cols), 1), 2.8), squeeze=False
    )
    for ax, c in zip(axes[0], cols, strict=False):
        v = data[c].dropna().astype(int).value_counts().sort_index()
        ax.bar(v.index.astype(str), v.to_numpy(), color=OKABE_ITO[0])
        ax.set_title(labels.get(c, c), fontsize=9)
        ax.set_xlabel("points", fontsize=8)
        ax.tick_params(labelsize=8)
        missing = int(data[c].isna().sum())
        if missing:
            ax.text(
                0.98,
                0.95,
                f"{missing} missing",
                transform=ax.transAxes,
                ha="right",
                va="top",
                fontsize=7,
            )
    axes[0][0].set_ylabel("patients", fontsize=8)
    fig.tight_layout()
    return _png(fig)
