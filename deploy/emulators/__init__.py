"""HTTP emulators of the third-party APIs, for tests and the local run."""
