"""Scheduling (issue #5): appointments, series, communications, reminders, iCal.

Importing the package registers the scheduling tables with the write path
(through ``storage.schedule_queries``) and the FHIR export contributors.
"""

from desktop_crm.services.scheduling import fhir as _fhir  # noqa: F401
from desktop_crm.storage import schedule_queries as _tables  # noqa: F401
