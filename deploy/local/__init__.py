"""The native Kafka and FerretDB of the local run and the tests."""
