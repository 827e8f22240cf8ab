"""The base of the reconcile layer's value models: immutable pydantic models (hashable, safe to share)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class FrozenModel(BaseModel):
    """A pydantic model whose instances cannot change after validation."""

    model_config = ConfigDict(frozen=True)
