"""Real-world-shaped Kubefiles (after sealer's users' and docs) built with the real builder."""
