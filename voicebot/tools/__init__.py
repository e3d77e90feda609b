"""Tools the dialogue calls: caller-number normalisation, CRM look-ups, screen pops, transfer."""
