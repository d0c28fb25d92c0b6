"""Local and deployment tooling."""
