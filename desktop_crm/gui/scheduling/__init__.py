"""Scheduling screens (issue #5): calendar, booking, details, Today board."""
