"""Desktop CRM: an encrypted patient-relationship manager for telehealth practices."""

__version__ = "0.1.0"
