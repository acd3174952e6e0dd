"""Custom integrations (this package marker lets tests import them)."""
