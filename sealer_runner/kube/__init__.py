"""Kubernetes knowledge the front end needs to decide and render (never to touch hosts): kubeadm API
versions and their fields, and the kubeadm configuration a cluster's hosts get."""
