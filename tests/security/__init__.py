"""Hostile inputs: images, archives, layers, registries, Clusterfiles and Kubefiles crafted to escape (issue 10)."""
