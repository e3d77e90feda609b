"""voicebot: an offline-first voice bot for contact centers."""

__version__ = "0.1.0"
