"""Notifier service: tells the customer on WhatsApp (Twilio) at every step."""
