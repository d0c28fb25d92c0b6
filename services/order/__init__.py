"""Order service: orders, their lifecycle, and each store's order configuration."""
