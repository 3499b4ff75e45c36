"""Schema 7: indexes for searching the audit log (issue #6).

The audit viewer and ``audit export`` filter by date, by user and by record
(a patient's accounting of access).  Without these, each filter reads the
whole log, which grows by every view and change (a million entries within a
few years for a busy practice).  Each index also carries the entry's
sequence number (it is the rowid), so matches come out in log order.
"""

STATEMENTS = [
    "CREATE INDEX audit_log_at ON audit_log(at)",
    "CREATE INDEX audit_log_user ON audit_log(user_id)",
    "CREATE INDEX audit_log_record ON audit_log(record_type, record_id)",
]
