"""Shared resources and reservations (issue 15)."""
