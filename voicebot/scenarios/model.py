"""The scenario file: calls to place, what the caller does in each turn, and what must happen.

A scenario file is YAML::

    name: known customers            # optional; default: the file name
    config: {}                       # settings for the in-process server (TOML shape)
    crm:                             # optional CRM fixtures (voicebot crm import shape)
      - {name: Ann Lee, phones: ["+14155550001"], cases: [{number: CAS-1, title: Modem, status: New}]}
    calls:
      - name: Jane asks for an agent
        ani: "+14155552671"
        turns:
          - bot_says: Hi Jane                      # no action: listen (the first is the greeting)
          - say: I'd like to talk to a person      # or play: FILE.wav, dtmf: "1", silence: 8
            intent: agent
            bot_says: connecting you to an agent
            max_latency_ms: 2000
        expect:
          outcome: transferred
          transfer: support
          screen_pop: {customer.name: Jane Doe, case.number: CAS-01234}

Unknown keys are errors, so a typo in an expectation cannot pass silently.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from voicebot.caller import PLATFORMS

DTMF_KEYS = set("0123456789*#")


class ScenarioError(Exception):
    """A scenario file that cannot be run as written; the message names the file and the field."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Line(_Model):
    """The phone line between the caller and the bot."""

    noise_dbfs: float | None = Field(default=None, le=0, description="hiss on the line, RMS level in dBFS")
    band_limit: bool = Field(default=False, description="300-3400 Hz, as on a narrowband phone call")

    def merged(self, override: Line | None) -> Line:
        if override is None:
            return self
        return self.model_copy(update=override.model_dump(exclude_unset=True))


class Turn(_Model):
    """One thing the caller does (or nothing: listen), and what the bot's next prompt must be."""

    say: str | None = None
    play: Path | None = None
    dtmf: str | None = None
    silence: float | None = Field(default=None, gt=0, description="seconds of saying nothing")
    barge_in_ms: int | None = Field(default=None, ge=0, description="start this far into the bot's prompt")
    taken_back: bool = Field(
        default=False,
        description="a pause in 'say' makes the bot start early; going on must stop it, and it answers the whole",
    )
    line: Line | None = None

    bot_says: list[str] = Field(default_factory=list)
    bot_said: list[str] = Field(
        default_factory=list,
        description="words the bot's reply must contain as the server recorded it (exact, case and punctuation "
        "aside): for what a listening model cannot be trusted to hear, such as a one-syllable name",
    )
    bot_matches: str | None = None
    intent: str | None = None
    branch: str | None = Field(
        default=None,
        description="what the dialogue did: act, confirm, confirmed, declined, answered, out_of_scope, ...",
    )
    max_latency_ms: float | None = Field(default=None, gt=0)
    bot_stopped: bool | None = Field(default=None, description="the bot cut its prompt short for this turn")
    timeout_secs: float = Field(default=30.0, gt=0, description="wait this long for the bot's reply")

    @field_validator("bot_says", "bot_said", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("dtmf")
    @classmethod
    def _keys(cls, value: str | None) -> str | None:
        if value is not None and (not value or set(value) - DTMF_KEYS):
            raise ValueError(f"dtmf must be keypad keys 0-9 * #, got {value!r}")
        return value

    @field_validator("bot_matches")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"bot_matches is not a regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _one_action(self) -> Turn:
        actions = [k for k in ("say", "play", "dtmf", "silence") if getattr(self, k) is not None]
        if len(actions) > 1:
            raise ValueError(f"a turn does one thing; this one has {' and '.join(actions)}")
        if self.barge_in_ms is not None and self.action not in ("say", "play", "dtmf"):
            raise ValueError("barge_in_ms needs something to barge in with: say, play or dtmf")
        if self.action in ("silence", "listen") and self.intent is not None:
            raise ValueError(f"a {self.action} turn has no intent to check")
        if self.action == "silence" and self.max_latency_ms is not None:
            raise ValueError("a silence turn has no end of speech to time a reply from")
        if self.bot_stopped is not None and self.barge_in_ms is None:
            raise ValueError("bot_stopped is checked on barge-in turns (set barge_in_ms)")
        return self

    @property
    def action(self) -> Literal["say", "play", "dtmf", "silence", "listen"]:
        names: tuple[Literal["say", "play", "dtmf", "silence"], ...] = ("say", "play", "dtmf", "silence")
        for name in names:
            if getattr(self, name) is not None:
                return name
        return "listen"

    def describe(self) -> str:
        match self.action:
            case "say":
                what = f'says "{self.say}"'
            case "play":
                what = f"plays {self.play.name if self.play else None}"
            case "dtmf":
                what = f"presses {self.dtmf}"
            case "silence":
                what = f"stays silent {self.silence:g} s"
            case _:
                what = "listens"
        if self.barge_in_ms is not None:
            what += f" {self.barge_in_ms} ms into the bot's prompt"
        return what


class Expect(_Model):
    """How the call must end, and what the agent's screen pop must show."""

    outcome: Literal["transferred", "completed", "abandoned", "error"] | None = None
    reason: str | None = None
    transfer: str | None = Field(default=None, description="queue or number the call was handed to")
    caller_turns: int | None = Field(default=None, ge=0, description="caller turns in the call record")
    screen_pop: dict[str, Any] | Literal[False] | None = Field(
        default=None, description="dotted paths into the pop and their values; false: no pop at all"
    )


class Call(_Model):
    name: str
    ani: str | None = Field(default=None, description="the caller's number; omitted: withheld")
    platform: str = "twilio"
    line: Line = Line()
    turns: list[Turn] = Field(default_factory=list)
    expect: Expect = Expect()
    timeout_secs: float = Field(default=120.0, gt=0, description="hang up if the call lasts longer")

    @field_validator("platform")
    @classmethod
    def _known_platform(cls, value: str) -> str:
        if value not in PLATFORMS:
            raise ValueError(f"platform must be one of {PLATFORMS}")
        return value


class ScenarioFile(_Model):
    name: str
    path: Path
    config: dict[str, Any] = Field(default_factory=dict)
    crm: list[dict[str, Any]] | None = None
    calls: list[Call] = Field(min_length=1)

    @property
    def needs_own_server(self) -> bool:
        """Server settings or CRM fixtures can only be applied to a server started for this file."""
        return bool(self.config) or self.crm is not None

    @model_validator(mode="after")
    def _files_exist(self) -> ScenarioFile:
        for call in self.calls:
            for turn in call.turns:
                if turn.play is not None and not turn.play.is_file():
                    raise ValueError(f"call {call.name!r}: no such WAV file: {turn.play}")
        return self


def load_scenario(path: Path) -> ScenarioFile:
    """Read one scenario file; WAV paths are relative to it."""
    try:
        with path.open() as stream:  # an open file: YAML errors then name it, with line and column
            data = yaml.safe_load(stream)
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: expected a mapping with 'calls', got {type(data).__name__}")
    for call in data.get("calls") or []:
        for turn in (call.get("turns") or []) if isinstance(call, dict) else []:
            if isinstance(turn, dict) and isinstance(turn.get("play"), str):
                turn["play"] = str(path.parent / turn["play"])
    data.setdefault("name", path.stem)
    try:
        return ScenarioFile.model_validate({**data, "path": path})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ScenarioError(f"{path}: {problems}") from None


def find_scenarios(paths: list[Path]) -> list[ScenarioFile]:
    """Scenario files named directly, and every ``*.yaml`` / ``*.yml`` in directories named, in name order."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
        elif path.is_file():
            files.append(path)
        else:
            raise ScenarioError(f"{path}: no such file or directory")
    if not files:
        raise ScenarioError(f"no scenario files (*.yaml) in {', '.join(map(str, paths))}")
    return [load_scenario(f) for f in files]
