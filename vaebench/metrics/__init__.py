"""Metrics: each a scientific claim, tested against closed forms, analytic cases and invariances."""
