"""The clinical table: documented schema, reading (CSV/Excel) and validation.

See ``docs/clinical-table.md`` for the columns and the validation rules.
"""

from carpet.clinical.schema import (
    CLINICAL_COLUMNS,
    DAYS_PER_MONTH,
    ColumnSpec,
    clinical_schema_markdown,
)
from carpet.clinical.validate import (
    BIOMARKER_COLUMNS,
    CohortTables,
    TableProblem,
    prepare_cohort,
    read_biomarkers,
    read_table,
    validate_clinical,
)

__all__ = [
    "BIOMARKER_COLUMNS",
    "CLINICAL_COLUMNS",
    "CohortTables",
    "ColumnSpec",
    "DAYS_PER_MONTH",
    "TableProblem",
    "clinical_schema_markdown",
    "prepare_cohort",
    "read_biomarkers",
    "read_table",
    "validate_clinical",
]
