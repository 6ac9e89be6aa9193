"""Alembic migrations of the tracker schema, shipped as ``tracker.migrations``."""
