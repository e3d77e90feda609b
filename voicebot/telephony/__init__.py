"""Telephony platforms: one package each (stream, call control, webhooks, signatures), one :class:`Platform` each."""
