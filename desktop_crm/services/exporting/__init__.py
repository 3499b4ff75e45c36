"""Exports of patient data: FHIR R4 bundles, PDF summaries and CSV lists.

Every export checks the ``patients.export`` permission and writes an audit
entry; none of them writes a temporary file.
"""
