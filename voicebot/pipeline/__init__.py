"""The speech pipeline of one call: transport, VAD, Whisper, turns, the conversation, Piper, and its assembly."""
