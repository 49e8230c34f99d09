"""The kfn gateway: the data plane's front door.

It turns HTTP requests into invocations, holds requests while a function scales from zero
(the activator), throttles beyond a function's concurrency, and exposes Prometheus metrics.
Replicas come from a backend: ``local`` (worker processes, for ``kfn dev``) or ``kubernetes``.
"""
