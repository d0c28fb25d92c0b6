"""Restaurant panel: a store's live order board, its buttons and its configuration, on the web."""
