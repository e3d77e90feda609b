"""``voicebot bench``: how fast the bot answers and how many calls one process holds, measured at the caller.

Simulated callers (:mod:`~voicebot.scenarios.play`, real-time paced Twilio
media streams, speech synthesised in a voice other than the bot's) hold the same
multi-turn conversation at rising concurrency against voicebot and, side by
side, against a stock pipecat pipeline; :mod:`~voicebot.bench.server` runs each
server in its own process and samples its CPU and memory.
"""
