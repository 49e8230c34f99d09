from tests.k8s.fixtures import cluster  # noqa: F401
