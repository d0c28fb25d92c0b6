"""Where payments, jobs, webhook events and credentials are kept (MongoDB, in-memory twins),
and the Asaas client."""
