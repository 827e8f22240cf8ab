"""Kopf registration only: the handlers and indices register on import and delegate every pass to
``runtime.passes.Runtime``."""

from ecr_privacy_operator.handlers import policy as policy

__all__ = ["policy"]
