"""Schema 9: an index on when a contact happened, for the practice-wide log.

The Messages page lists a date range of the whole practice's communications;
without the index that reads every row.
"""

STATEMENTS = [
    "CREATE INDEX communications_at ON communications(at)",
]
