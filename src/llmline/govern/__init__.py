"""Governance: bias and safety checks, explanations, model cards and the audit log."""
