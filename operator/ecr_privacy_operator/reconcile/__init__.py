"""Reconcile: spec -> Desired, Guardrails -> Observed, plan (pure), apply."""
