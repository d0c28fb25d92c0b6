"""Adapters of the order service: MongoDB repositories, the POS topic provisioner, and their
in-memory twins."""
