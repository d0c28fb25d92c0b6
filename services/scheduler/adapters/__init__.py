"""Where timers are kept: MongoDB, and an in-memory twin for tests."""
