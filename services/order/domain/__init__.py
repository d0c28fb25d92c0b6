"""The order domain: pure models, the lifecycle table and the decisions; no I/O, time passed in."""
