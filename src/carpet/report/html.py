"""The self-contained HTML cohort report, results.json and tidy CSV tables.

One HTML file with inline CSS and base64 PNG figures: it works offline and can be sent
by e-mail. Written atomically with :func:`carpet._io.atomic_output_dir`.
"""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path

import numpy as np
import pandas as pd

from carpet._io import atomic_output_dir, atomic_write_json
from carpet.report import figures
from carpet.survival.analysis import KM_GROUPINGS, CohortResult, predictor_label
from carpet.survival.cutoffs import OPTIMISM_WARNING

__all__ = ["render_cohort_html", "write_cohort_report"]

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
main{max-width:1100px;margin:0 auto;padding:24px 32px;background:#fff}
h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.25em;border-bottom:2px solid #0072B2;padding-bottom:4px;margin-top:2em}
h3{font-size:1.05em;margin-top:1.4em}
table{border-collapse:collapse;margin:.6em 0;font-size:.86em}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef3f8}td.num{text-align:right;font-variant-numeric:tabular-nums}
.banner{background:#b00020;color:#fff;padding:10px 16px;font-weight:bold;font-size:1.05em;border-radius:4px}
.warn{background:#fff4e5;border-left:5px solid #E69F00;padding:8px 12px;margin:.8em 0}
.note{background:#eef3f8;border-left:5px solid #0072B2;padding:8px 12px;margin:.8em 0}
.unverified{color:#b00020;font-weight:bold}
img{max-width:100%;height:auto;display:block;margin:.5em 0}
.grid{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
.small{font-size:.85em;color:#555}
nav a{margin-right:12px}
"""


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def _fmt(v: object, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            return "–"
        return f"{v:.{digits}g}" if abs(v) < 1e4 else f"{v:.0f}"
    return html.escape(str(v))


def _table(df: pd.DataFrame, columns: dict[str, str] | None = None, digits: int = 3) -> str:
    if df is None or len(df) == 0:
        return '<p class="small">(none)</p>'
    cols = columns or {c: c for c in df.columns}
    head = "".join(f"<th>{html.escape(v)}</th>" for v in cols.values())
    body = []
    for _, r in df.iterrows():
        cells = []
        for c in cols:
            v = r.get(c)
            num = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
            cells.append(f'<td class="{"num" if num else ""}">{_fmt(v, digits)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _p(p: float | None) -> str:
    """``p = 0.012`` or ``p < 0.001`` (as HTML)."""
    if p is None or not np.isfinite(p):
        return "p = –"
    return "p &lt; 0.001" if p < 0.001 else f"p = {p:.3f}"


def _ci(est: float, lo: float, hi: float, digits: int = 2) -> str:
    if not np.isfinite(est):
        return "–"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{est:.{digits}f}"
    return f"{est:.{digits}f} ({lo:.{digits}f}–{hi:.{digits}f})"


def render_cohort_html(result: CohortResult) -> str:
    """The report as one HTML string (figures inlined).

    Parameters
    ----------
    result : CohortResult

    Returns
    -------
    str
    """
    from carpet.synthetic.cohort import SIMULATED_LABEL

    cfg = result.config
    d = result.data
    ep = cfg.endpoint.upper()
    ci_pct = f"{100 * cfg.confidence_level:g} %"
    parts: list[str] = []
    add = parts.append
    add(
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>carpet cohort report ({ep})</title>"
    )
    add(f"<style>{_CSS}</style></head><body><main>")
    if result.simulated:
        add(f"<div class='banner'>{html.escape(SIMULATED_LABEL)}</div>")
    add(f"<h1>Cohort outcome report: {ep}{' (SIMULATED)' if result.simulated else ''}</h1>")
    add(
        "<nav class='small'><a href='#summary'>Summary</a><a href='#scores'>Scores</a><a href='#km'>Kaplan–Meier</a>"
        "<a href='#cox'>Cox</a><a href='#cindex'>C-index</a><a href='#auc'>ROC / td-AUC</a>"
        "<a href='#cutoff'>Cut-off</a><a href='#methods'>Methods</a><a href='#software'>Software</a></nav>"
    )
    # ---- summary
    n_ev = int(d["event"].sum())
    add("<h2 id='summary'>Cohort summary</h2>")
    add(
        f"<p>{len(d)} patients analysed ({result.tables.n_clinical} rows in the clinical table, "
        f"{result.tables.n_biomarkers} in the biomarker table); {n_ev} {ep} events; median follow-up "
        f"{_fmt(result.median_followup_months)} months (reverse Kaplan–Meier). Time zero: CAR T infusion.</p>"
    )
    if len(result.comparisons):
        c0 = result.comparisons[0]
        add(
            f"<div class='note'><b>Headline.</b> {html.escape(predictor_label(c0.name_a))}: Harrell C "
            f"{c0.c_a:.2f} vs {html.escape(predictor_label(c0.name_b))} {c0.c_b:.2f}; difference "
            f"{c0.delta:+.3f} ({ci_pct} CI {c0.ci_low:+.3f} to {c0.ci_high:+.3f}, paired bootstrap {_p(c0.p_value)}).</div>"
        )
    add(
        _table(
            result.characteristics,
            {"variable": "Variable", "summary": "Summary", "n_missing": "Missing"},
        )
    )
    add(f"<h3>Excluded patients ({len(result.tables.excluded)})</h3>")
    add(
        _table(
            result.tables.excluded, {"patient_id": "Patient", "table": "Table", "reason": "Reason"}
        )
    )
    for w in result.statistical_warnings:
        add(f"<div class='warn'>{html.escape(w)}</div>")
    # ---- scores
    add("<h2 id='scores'>Risk scores</h2>")
    score_cols = [
        c
        for c in (
            "ipi_points",
            "aaipi_points",
            "nccn_ipi_points",
            "car_hematotox_points",
            "vercellino_points",
            "dean_points",
            "voltin_points",
        )
        if c in d.columns
    ]
    if score_cols:
        labels = {c: predictor_label(c) for c in score_cols}
        add(_img(figures.score_distribution_figure(d, score_cols, labels), "score distributions"))
    rows = []
    for info in result.score_notes.values():
        status = "verified" if info["verified"] else "NOT fully verified"
        rows.append(
            {
                "score": info["title"],
                "computed": "yes" if info["computed"] else f"no: {info['skip_reason']}",
                "status": status,
                "unverified rules": "; ".join(info["unverified_rules"]) or "–",
                "reference": info["reference"],
            }
        )
    add(_table(pd.DataFrame(rows)))
    add(
        "<p class='small'>Scores marked <span class='unverified'>NOT fully verified</span> contain rules "
        "that could not be checked against the primary publication; treat them as provisional.</p>"
    )
    # ---- KM
    add("<h2 id='km'>Kaplan–Meier curves</h2>")
    for g in result.group_comparisons:
        order = KM_GROUPINGS.get(g.grouping, ("low", "high"))
        ptxt = []
        if g.logrank:
            ptxt.append(f"log-rank {_p(g.logrank.p_value)}".replace("&lt;", "<"))
        if g.trend:
            ptxt.append(f"trend {_p(g.trend.p_value)}".replace("&lt;", "<"))
        title = f"{ep} by {g.grouping.replace('_', ' ')}"
        if g.grouping == "impi_cohort_group":
            title += " (ranked within this cohort; published IMPI cut-offs are unverified)"
        if g.grouping == "optimal_cutoff_group" and result.cutoff:
            title += f" ({predictor_label(cfg.cutoff_predictor)} > {result.cutoff.cutoff:.3g}; optimised, optimistic)"
        add(f"<h3>{html.escape(title)}</h3>")
        add(_img(figures.km_figure(g.km, order, title=title, p_text=", ".join(ptxt)), title))
        summ = g.km.summary.copy()
        rank = {x: k for k, x in enumerate(order)}
        summ = summ.iloc[np.argsort([rank.get(x, len(rank)) for x in summ["group"]], kind="stable")]
        lm = f"survival_at_{cfg.landmark_months:g}"
        summ["median (CI)"] = [
            _ci(r["median"], r["median_ci_low"], r["median_ci_high"], 1)
            if np.isfinite(r["median"])
            else "not reached"
            for _, r in summ.iterrows()
        ]
        add(
            _table(
                summ,
                {
                    "group": "Group",
                    "n": "n",
                    "events": "Events",
                    "median (CI)": "Median months (CI)",
                    lm: f"{ep} at {cfg.landmark_months:g} mo",
                },
            )
        )
        if g.n_missing:
            add(f"<p class='small'>{g.n_missing} patients with a missing group were left out.</p>")
    # ---- Cox
    add("<h2 id='cox'>Cox proportional hazards</h2>")
    if len(result.cox_univariable):
        add(_img(figures.forest_figure(result.cox_univariable), "forest plot"))
        add(
            _table(
                result.cox_univariable,
                {
                    "unit": "Per",
                    "n": "n",
                    "n_events": "Events",
                    "hr": "HR",
                    "hr_ci_low": "CI low",
                    "hr_ci_high": "CI high",
                    "p_value": "p",
                    "ph_test_p": "PH test p",
                },
            )
        )
    if result.cox_multivariable is not None:
        add("<h3>Multivariable model</h3>")
        add(
            _table(
                result.cox_multivariable.summary,
                {
                    "unit": "Per",
                    "hr": "HR",
                    "hr_ci_low": "CI low",
                    "hr_ci_high": "CI high",
                    "p_value": "p",
                    "ph_test_p": "PH test p",
                },
            )
        )
        add(
            f"<p class='small'>n = {result.cox_multivariable.n}, events = {result.cox_multivariable.n_events}, "
            f"AIC (partial) = {result.cox_multivariable.aic:.1f}.</p>"
        )
    add(
        "<p class='small'>PH test: Schoenfeld-residual test with rank time transform (lifelines); p &lt; 0.05 "
        "questions the proportional-hazards assumption.</p>"
    )
    # ---- C-index
    add("<h2 id='cindex'>Discrimination: concordance</h2>")
    if len(result.concordance):
        add(_img(figures.cindex_figure(result.concordance), "C-index comparison"))
        conc = result.concordance.copy()
        conc["Harrell C (CI)"] = [
            _ci(r.harrell_c, r.harrell_ci_low, r.harrell_ci_high) for r in conc.itertuples()
        ]
        conc["Uno C (CI)"] = [_ci(r.uno_c, r.uno_ci_low, r.uno_ci_high) for r in conc.itertuples()]
        add(
            _table(
                conc,
                {
                    "label": "Predictor",
                    "n": "n",
                    "n_events": "Events",
                    "n_missing": "Missing",
                    "Harrell C (CI)": f"Harrell C ({ci_pct} CI)",
                    "Uno C (CI)": f"Uno C ({ci_pct} CI)",
                },
            )
        )
    if result.comparisons:
        rows = [
            {
                "comparison": f"{predictor_label(c.name_a)} vs {predictor_label(c.name_b)}",
                "n": c.n,
                "ΔC (CI)": f"{c.delta:+.3f} ({c.ci_low:+.3f} to {c.ci_high:+.3f})",
                "p": _p(c.p_value).replace("&lt;", "<").removeprefix("p = "),
            }
            for c in result.comparisons
        ]
        add("<h3>Paired comparison with the reference predictor</h3>")
        add(_table(pd.DataFrame(rows)))
    # ---- ROC / td-AUC
    add("<h2 id='auc'>ROC at a landmark and time-dependent AUC</h2>")
    add("<div class='grid'>")
    if result.roc is not None:
        r = result.roc
        add(_img(figures.roc_figure(r, label=predictor_label(cfg.predictors[0])), "landmark ROC"))
        add(
            f"<div><p>Landmark {r.landmark:g} months: {r.n_positive} with an event, {r.n_negative} event-free, "
            f"{r.n_excluded} censored earlier (excluded).</p><p>AUC {_ci(r.auc, r.ci_low, r.ci_high)}; Youden "
            f"cut-off {r.youden_cutoff:.3g} (J = {r.youden_j:.2f}, sensitivity {r.sensitivity:.2f}, specificity "
            f"{r.specificity:.2f}).</p><p class='warn'>The Youden cut-off is optimised on these data and is "
            "optimistic.</p></div>"
        )
    add("</div>")
    if result.tdauc:
        labels = {k: predictor_label(k) for k in result.tdauc}
        add(_img(figures.tdauc_figure(result.tdauc, labels), "time-dependent AUC"))
        rows = []
        for k, v in result.tdauc.items():
            for i, t in enumerate(v.times):
                rows.append(
                    {
                        "predictor": labels[k],
                        "months": t,
                        "AUC (CI)": _ci(v.auc[i], v.ci_low[i], v.ci_high[i]),
                        "cases": v.n_cases[i],
                        "controls": v.n_controls[i],
                    }
                )
        add(_table(pd.DataFrame(rows)))
    # ---- cut-off
    add("<h2 id='cutoff'>Optimal cut-off (maximally selected log-rank statistic)</h2>")
    if result.cutoff is not None:
        c = result.cutoff
        add(f"<div class='warn'><b>Optimism warning:</b> {html.escape(OPTIMISM_WARNING)}.</div>")
        add(
            _img(
                figures.cutoff_figure(c, label=predictor_label(cfg.cutoff_predictor)),
                "cut-off scan",
            )
        )
        add(
            f"<p>Cut-off {predictor_label(cfg.cutoff_predictor)} &gt; {c.cutoff:.4g} ({c.n_low} low, {c.n_high} high; "
            f"candidates between the {100 * c.minprop:g}th and {100 * (1 - c.minprop):g}th percentiles). "
            f"Max |statistic| {c.statistic:.2f}: naive {_p(c.p_naive)} (not valid), "
            f"permutation-adjusted {_p(c.p_permutation)} ({c.n_permutations} permutations), "
            f"Lausen–Schumacher {_p(c.p_lausen_schumacher)}.</p>"
        )
        if result.cv_cutoff:
            cv = result.cv_cutoff
            add(
                f"<p>{cv['n_folds']}-fold cross-validated cut-offs: "
                f"{', '.join(f'{x:.3g}' for x in cv['fold_cutoffs'])}; log-rank test of the cross-validated "
                f"groups {_p(cv['p_value'])} (honest: no patient's group used its own outcome).</p>"
            )
    # ---- methods
    add("<h2 id='methods'>Methods</h2>")
    add(
        f"<p>Endpoint {ep}: time from CAR T infusion to {'progression or death' if ep == 'PFS' else 'death'} "
        "(events), censored at last follow-up; months = days / 30.4375. Input tables were validated before any "
        "computation; excluded patients are listed above. Each statistic uses complete cases and reports its n.</p>"
        "<ul>"
        "<li>Kaplan–Meier with Greenwood/log(−log) confidence intervals; log-rank test; log-rank test for trend "
        "across ordered groups (scores 0, 1, 2, …) — lifelines, trend test by carpet.</li>"
        f"<li>Cox proportional hazards (lifelines, Efron ties), Wald {ci_pct} CI; TMTV and TLG as log2(x + 1), "
        "i.e. HR per doubling; proportional hazards checked with the Schoenfeld-residual test.</li>"
        f"<li>Harrell's C and Uno's IPCW C (higher predictor = higher risk) with {cfg.bootstrap} bootstrap resamples "
        "(percentile CI); paired bootstrap of the C difference versus the reference predictor "
        f"({predictor_label(cfg.reference_predictor)}), p from the bootstrap standard error.</li>"
        "<li>Cumulative/dynamic time-dependent AUC with inverse-probability-of-censoring weights (Uno 2007); "
        f"ROC for an event by {cfg.landmark_months:g} months (earlier censoring excluded) with the Youden cut-off.</li>"
        f"<li>Maximally selected log-rank statistic over cut-offs with ≥ {100 * cfg.minprop:g} % of patients per "
        f"group; p adjusted by {cfg.permutations} permutations and by the Lausen–Schumacher approximation; "
        f"{cfg.cv_folds}-fold cross-validated cut-off.</li>"
        f"<li>Random seed {cfg.seed}; rerunning with the same inputs and seed gives identical results.</li></ul>"
    )
    add(
        "<p class='small'>References: Kaplan &amp; Meier 1958; Cox 1972; Harrell 1982; Uno 2007, 2011; "
        "Lausen &amp; Schumacher 1992; Youden 1950; score references in the table above.</p>"
    )
    # ---- software
    add("<h2 id='software'>Software and settings</h2>")
    sw = result.provenance.get("software", {})
    add(_table(pd.DataFrame({"package": list(sw), "version": list(sw.values())})))
    add(
        f"<p class='small'>Generated by carpet {html.escape(sw.get('carpet', ''))}. "
        "Patient identifiers are shown as given in the input tables.</p>"
    )
    add("</main></body></html>")
    return "\n".join(parts)


def write_cohort_report(result: CohortResult, out_dir: str | os.PathLike[str]) -> Path:
    """Write ``report.html``, ``results.json`` and tidy CSV tables into ``out_dir`` atomically.

    Parameters
    ----------
    result : CohortResult
        From :func:`carpet.survival.run_cohort_analysis`.
    out_dir : path
        Output folder (created or updated in one step).

    Returns
    -------
    Path
        Path of ``report.html``.

    Notes
    -----
    CSVs: ``patients.csv`` (analysed patients, scores, endpoint), ``excluded.csv``,
    ``concordance.csv``, ``concordance_comparisons.csv``, ``cox_univariable.csv``,
    ``cox_multivariable.csv``, ``km_summary.csv``, ``td_auc.csv``, ``cutoff_scan.csv``.
    """
    html_text = render_cohort_html(result)
    out = Path(out_dir)
    with atomic_output_dir(out) as tmp:
        (tmp / "report.html").write_text(html_text, encoding="utf-8")
        atomic_write_json(tmp / "results.json", result.to_json_dict())
        d = result.data.drop(columns=[c for c in result.data.columns if c.startswith("_")])
        d.to_csv(tmp / "patients.csv", index=False)
        result.tables.excluded.to_csv(tmp / "excluded.csv", index=False)
        result.concordance.to_csv(tmp / "concordance.csv", index=False)
        pd.DataFrame([c.to_dict() for c in result.comparisons]).to_csv(
            tmp / "concordance_comparisons.csv", index=False
        )
        result.cox_univariable.to_csv(tmp / "cox_univariable.csv", index=False)
        if result.cox_multivariable is not None:
            result.cox_multivariable.summary.to_csv(tmp / "cox_multivariable.csv", index=False)
        km_rows = [g.km.summary.assign(grouping=g.grouping) for g in result.group_comparisons]
        if km_rows:
            pd.concat(km_rows, ignore_index=True).to_csv(tmp / "km_summary.csv", index=False)
        td_rows = [
            {
                "predictor": k,
                "time_months": t,
                "auc": v.auc[i],
                "ci_low": v.ci_low[i],
                "ci_high": v.ci_high[i],
                "n_cases": v.n_cases[i],
                "n_controls": v.n_controls[i],
            }
            for k, v in result.tdauc.items()
            for i, t in enumerate(v.times)
        ]
        pd.DataFrame(td_rows).to_csv(tmp / "td_auc.csv", index=False)
        if result.cutoff is not None:
            pd.DataFrame(
                {"cutoff": result.cutoff.candidates, "statistic": result.cutoff.statistics}
            ).to_csv(tmp / "cutoff_scan.csv", index=False)
    return out / "report.html"
