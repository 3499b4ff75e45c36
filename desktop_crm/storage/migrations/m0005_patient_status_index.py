"""Schema 5: an index on patient status, so counting patients reads the index.

Counting active patients otherwise reads every patient row (about 3 KB each,
so 300 MB at 100,000 patients) each time the list shows everyone.
"""

STATEMENTS = [
    "CREATE INDEX patients_status ON patients(status)",
]
