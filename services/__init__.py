"""The four services: order, payment, notifier, scheduler."""
