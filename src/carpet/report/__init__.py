"""Reports: the self-contained HTML cohort report, its figures and provenance.

Consumes result objects; never computes biomarkers.
"""

from carpet.report.html import render_cohort_html, write_cohort_report
from carpet.report.provenance import software_versions

__all__ = ["render_cohort_html", "software_versions", "write_cohort_report"]
