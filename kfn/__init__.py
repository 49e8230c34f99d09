"""kfn: AWS Lambda's programming model on Kubernetes, and on one machine with ``kfn dev``.

This package holds what every component shares: the API types (``kfn.api``), the manifest
loader (``kfn.manifests``), name rules (``kfn.names``), the scaling decision
(``kfn.scaling``) and the ``kfn`` command line (``kfn.cli``).
"""

__version__ = "0.1.0"
