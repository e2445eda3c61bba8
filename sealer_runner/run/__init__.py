"""Running cluster images onto hosts: Clusterfile -> inventory + extra-vars -> ansible-runner."""
