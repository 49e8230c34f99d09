"""The gateway's door to the Kubernetes API: the shared client of :mod:`kfn.kubeclient`
(get, list, patch and watch on raw dicts, every failure an :class:`ApiError`).
"""

from __future__ import annotations

from kfn.kubeclient import MERGE, Api, ApiError, Configuration, load_configuration

__all__ = ["ApiError", "Api", "load_configuration", "Configuration", "MERGE"]
