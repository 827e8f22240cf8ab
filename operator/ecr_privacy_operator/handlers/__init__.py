"""Kopf wiring only: the handlers register on import and delegate every pass to ``runtime.Runtime``."""

from ecr_privacy_operator.handlers import policy as policy

__all__ = ["policy"]
