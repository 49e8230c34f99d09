"""kfn's control plane: kopf handlers that turn Functions and Triggers into Kubernetes objects."""
