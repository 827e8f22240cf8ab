"""The per-process runtime between the Kopf handlers and ``reconcile``: passes and deletions from start to end
(``passes``), the resync schedule, what is remembered per object, backoff, publishing, the workspace keeper,
the Kubernetes side of the activity feeds, and read access to Kopf's indices (``directory``).

``handlers/`` registers Kopf handlers and hands each object to ``passes.Runtime`` (in Kopf's ``memo``); nothing
here registers a handler.
"""
