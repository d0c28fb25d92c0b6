"""Payment service: charges on Asaas, takes its webhooks, refunds."""
