"""Alembic migrations of the hpstore catalog (installed as ``hpstore.migrations``)."""
