"""Scheduler service: durable timers that fire deadlines within a second."""
