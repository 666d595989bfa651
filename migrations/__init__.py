"""Alembic migrations. Database invariants live here, as SQL."""
