"""Import of patients, practitioners and visits from FHIR R4 and CSV files.

The GUI and the command line call these two functions; both return an
:class:`ImportReport` that lists every rejected item with file, entry and
reason.  Every write goes through the session's single write path, one
patient per transaction.
"""

from desktop_crm.services.importing.csv_import import (
    import_csv,
    load_saved_mappings,
    save_mapping,
)
from desktop_crm.services.importing.fhir import import_fhir
from desktop_crm.services.importing.report import ImportReport, Rejection

__all__ = [
    "ImportReport",
    "Rejection",
    "import_csv",
    "import_fhir",
    "load_saved_mappings",
    "save_mapping",
]
