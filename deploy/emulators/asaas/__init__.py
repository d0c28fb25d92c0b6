"""An Asaas API v3 emulator for tests and the local run (`python -m deploy.emulators.asaas`)."""
