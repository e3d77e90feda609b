"""What the caller means: the intent table, a fuzzy keyword matcher, a semantic matcher, and the router over both."""

from voicebot.intents.router import Calibration, IntentMatch, IntentRouter
from voicebot.intents.semantic import EMBEDDERS, NONE, Embedder, SemanticMatcher
from voicebot.intents.table import Intent, IntentTable, normalize

__all__ = [
    "EMBEDDERS",
    "NONE",
    "Calibration",
    "Embedder",
    "Intent",
    "IntentMatch",
    "IntentRouter",
    "IntentTable",
    "SemanticMatcher",
    "normalize",
]
