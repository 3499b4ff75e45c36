"""Storage layer: the only importer of the SQLCipher driver.

Importing the package registers the derived indexes the write path keeps.
"""

from desktop_crm.storage import patient_index as _patient_index  # noqa: F401
