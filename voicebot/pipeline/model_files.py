"""Speech model files an operator points us at: when one is missing or broken, say which and where.

A server that starts without its models would greet nobody; so loading happens
at start-up, and any failure becomes a :class:`ModelFileError` naming the
config key and the file, which ``voicebot serve`` prints before exiting 2.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class ModelFileError(RuntimeError):
    def __init__(self, key: str, path: Path | str, problem: str):
        super().__init__(f"{key}: {problem}: {path}")
        self.key = key
        self.path = Path(path)


@contextmanager
def loading(key: str, path: Path | str) -> Iterator[None]:
    """Whatever the model library raises on a corrupt file (protobuf, JSON, zip, CTranslate2) names its key."""
    try:
        yield
    except ModelFileError:
        raise
    except Exception as exc:
        raise ModelFileError(key, path, f"cannot load it ({type(exc).__name__}: {exc})") from exc
