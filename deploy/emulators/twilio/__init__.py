"""An emulator of Twilio's Messages API (WhatsApp), with a control API for fault injection."""
