"""The documented clinical-table schema (docs/clinical-table.md is generated from it).

One :class:`ColumnSpec` per column: name, type, unit, plausible range and the hint given
when a value looks like a unit mistake. Column names follow carpet's convention: lower
snake case, quantity first, unit suffix.
"""

from __future__ import annotations

import dataclasses

__all__ = ["CLINICAL_COLUMNS", "ColumnSpec", "DAYS_PER_MONTH", "clinical_schema_markdown"]

#: Days per month used to express durations in months (365.25 / 12).
DAYS_PER_MONTH = 30.4375


@dataclasses.dataclass(frozen=True)
class ColumnSpec:
    """One column of the clinical table.

    Attributes
    ----------
    name : str
    kind : {"id", "text", "int", "float", "date", "bool", "stage", "sex"}
    unit : str
    description : str
    required : bool
        The table is rejected when the column or a value is missing.
    low, high : float or None
        Plausible range (inclusive); outside it the value is "impossible".
    unit_hint : tuple or None
        ``(threshold, above, message)``: a value above (``above=True``) or below the
        threshold suggests a unit mistake, explained by ``message``.
    """

    name: str
    kind: str
    unit: str
    description: str
    required: bool = False
    low: float | None = None
    high: float | None = None
    unit_hint: tuple[float, bool, str] | None = None


CLINICAL_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec(
        "patient_id",
        "id",
        "",
        "Pseudonymised patient identifier; unique; joins the biomarker table.",
        True,
    ),
    ColumnSpec(
        "timepoint",
        "text",
        "",
        "When the clinical values were taken: TD (decision/apheresis) or TT "
        "(before lymphodepletion). Default TT.",
    ),
    ColumnSpec("age_years", "float", "years", "Age at the timepoint.", False, 18, 110),
    ColumnSpec("sex", "sex", "", "M or F."),
    ColumnSpec(
        "height_cm",
        "float",
        "cm",
        "Body height.",
        False,
        100,
        230,
        (3.0, False, "looks like metres; give the height in cm (multiply by 100)"),
    ),
    ColumnSpec("weight_kg", "float", "kg", "Body weight.", False, 25, 300),
    ColumnSpec(
        "ldh_u_per_l",
        "float",
        "U/L",
        "Serum lactate dehydrogenase.",
        False,
        20,
        20000,
        (
            20.0,
            False,
            "looks like a ratio to the upper limit of normal or µkat/L, not U/L; give LDH "
            "in U/L (1 µkat/L = 60 U/L) and the ULN in ldh_uln_u_per_l",
        ),
    ),
    ColumnSpec(
        "ldh_uln_u_per_l",
        "float",
        "U/L",
        "Upper limit of normal of the local LDH assay.",
        False,
        100,
        1000,
        (20.0, False, "looks like µkat/L, not U/L (1 µkat/L = 60 U/L)"),
    ),
    ColumnSpec("ecog", "int", "", "ECOG performance status 0-4.", False, 0, 4),
    ColumnSpec("ann_arbor_stage", "stage", "", "Ann Arbor stage 1-4 (I-IV accepted).", False, 1, 4),
    ColumnSpec("extranodal_sites", "int", "count", "Number of extranodal sites.", False, 0, 30),
    ColumnSpec(
        "extranodal_site_list",
        "text",
        "",
        "Extranodal sites separated by ';' (e.g. 'liver; bone_marrow'); needed for NCCN-IPI.",
    ),
    ColumnSpec("bulky", "bool", "", "Bulky disease (yes/no)."),
    ColumnSpec(
        "crp_mg_dl",
        "float",
        "mg/dL",
        "C-reactive protein.",
        False,
        0,
        60,
        (60.0, True, "looks like mg/L; give CRP in mg/dL (divide by 10)"),
    ),
    ColumnSpec("ferritin_ng_ml", "float", "ng/mL", "Ferritin (= µg/L).", False, 0, 200000),
    ColumnSpec(
        "anc_10e9_l",
        "float",
        "10^9/L",
        "Absolute neutrophil count.",
        False,
        0,
        100,
        (100.0, True, "looks like cells/µL; give ANC in 10^9/L (divide by 1000)"),
    ),
    ColumnSpec(
        "hb_g_dl",
        "float",
        "g/dL",
        "Haemoglobin.",
        False,
        3,
        25,
        (25.0, True, "looks like g/L; give haemoglobin in g/dL (divide by 10)"),
    ),
    ColumnSpec(
        "platelets_10e9_l",
        "float",
        "10^9/L",
        "Platelet count.",
        False,
        0,
        2000,
        (2000.0, True, "looks like cells/µL; give platelets in 10^9/L (divide by 1000)"),
    ),
    ColumnSpec("product", "text", "", "CAR T product (e.g. axi-cel, tisa-cel, liso-cel)."),
    ColumnSpec("bridging", "text", "", "Bridging therapy (none, chemo, radiotherapy, ...)."),
    ColumnSpec(
        "infusion_date",
        "date",
        "",
        "CAR T infusion date (day 0 of PFS and OS), ISO 8601 (YYYY-MM-DD).",
    ),
    ColumnSpec("progression_date", "date", "", "Date of progression (Lugano); empty if none."),
    ColumnSpec("death_date", "date", "", "Date of death (any cause); empty if alive."),
    ColumnSpec(
        "last_followup_date", "date", "", "Date of last contact / last assessment (censoring date)."
    ),
    ColumnSpec(
        "pfs_months", "float", "months", "PFS duration if dates are not given.", False, 0, 600
    ),
    ColumnSpec("pfs_event", "bool", "", "1 = progression or death, 0 = censored."),
    ColumnSpec(
        "os_months", "float", "months", "OS duration if dates are not given.", False, 0, 600
    ),
    ColumnSpec("os_event", "bool", "", "1 = death, 0 = censored."),
)


def clinical_schema_markdown() -> str:
    """The schema as a Markdown table (used to write docs/clinical-table.md).

    Examples
    --------
    >>> clinical_schema_markdown().splitlines()[0]
    '| column | type | unit | required | plausible range | description |'
    """
    lines = [
        "| column | type | unit | required | plausible range | description |",
        "|---|---|---|---|---|---|",
    ]
    for c in CLINICAL_COLUMNS:
        rng = "" if c.low is None else f"{c.low:g} – {c.high:g}"
        lines.append(
            f"| `{c.name}` | {c.kind} | {c.unit} | {'yes' if c.required else ''} | {rng} | {c.description} |"
        )
    return "\n".join(lines)
