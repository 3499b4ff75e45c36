"""Import of patients, practitioners and visits from FHIR R4 and CSV files.

The GUI and the command line call these two functions; both return an
:class:`ImportReport` that lists every rejected item with file, entry and
reason.  Every write goes through the session's single write path, one
patient per transaction: a savepoint (SQLite's nested transaction) inside a
commit group of at most ``COMMIT_GROUP_SECONDS``, so a rejected or failed
patient takes nothing else with it, a crash loses at most the open group
(whole patients only; importing again adds them), and committing 30 patients
costs one commit, not 30.
"""

from desktop_crm.services.importing.csv_import import (
    import_csv,
    load_saved_mappings,
    save_mapping,
)
from desktop_crm.services.importing.fhir import import_fhir
from desktop_crm.services.importing.report import (
    COMMIT_GROUP_SECONDS,
    ImportReport,
    Rejection,
)

__all__ = [
    "COMMIT_GROUP_SECONDS",
    "ImportReport",
    "Rejection",
    "import_csv",
    "import_fhir",
    "load_saved_mappings",
    "save_mapping",
]
