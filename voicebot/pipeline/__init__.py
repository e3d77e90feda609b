"""Speech and transport: telephony serializer, VAD, Whisper, Piper, and the per-call pipeline."""
