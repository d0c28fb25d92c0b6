"""Adapters of the order service: MongoDB repositories and the POS topic provisioner."""
