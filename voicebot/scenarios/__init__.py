"""Scripted caller scenarios: ``voicebot test-calls SCENARIOS.yaml``.

A scenario file describes calls (caller number, CRM fixtures, turns spoken with
a caller voice, played from WAV, keyed or kept silent, with barge-in timing and
line noise) and what must happen (what the bot said, heard back from its real
audio; intents; outcome and transfer; screen-pop fields; reply latency).
:mod:`~voicebot.scenarios.model` reads the file, :mod:`~voicebot.scenarios.play`
places the calls, :mod:`~voicebot.scenarios.checks` judges them and
:mod:`~voicebot.scenarios.report` tells people and CI systems.
"""
