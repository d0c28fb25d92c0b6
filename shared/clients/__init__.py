"""Typed clients for the system's two outside users: the chatbot and a store's POS."""
