"""The effective configuration: one TOML file, then ``VOICEBOT_*`` environment overrides.

Every key is documented in the README. Environment variables name a key by its
section and field joined with a double underscore, e.g.
``VOICEBOT_SCREEN_POP__WEBHOOK_SECRET`` or ``VOICEBOT_SERVER__PORT``; top-level keys
drop the section (``VOICEBOT_DATA_DIR``).
"""

from __future__ import annotations

import base64
import binascii
import difflib
import json
import os
import tomllib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo

ENV_PREFIX = "VOICEBOT_"
CONFIG_VARIABLE = "VOICEBOT_CONFIG"  # names the file; every other VOICEBOT_* variable is a setting

KeyPath = tuple[str, ...]


class ConfigError(ValueError):
    """A configuration the operator must fix, said in one line that names the file, variable or key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = Field(
        default=1, ge=1, description="Server processes; one holds about 24 calls on 2 cores (docs/benchmarks.md)."
    )
    public_url: str | None = Field(
        default=None,
        description="Base URL Twilio reaches us at (https://bot.example.com). Default: from the request.",
    )


class TelephonySettings(_Section):
    default_region: str = Field(default="US", description="Region for caller numbers without +.")


class TransferSettings(_Section):
    mode: Literal["dial", "enqueue"] = "enqueue"
    agent_number: str = "+18005550199"
    queue: str = "support"
    dial_timeout_secs: int = 30
    routes: dict[str, str] = Field(
        default_factory=dict,
        description="Transfer reason -> queue (enqueue) or number (dial), e.g. no_open_case = new-cases.",
    )
    priority_target: str | None = Field(default=None, description="Queue or number for high-priority cases.")
    priority_values: list[str] = ["high", "urgent"]
    hold_prompt: str = "Thank you for holding. Your call is important to us, and an agent will be with you shortly."


class TwilioSettings(_Section):
    account_sid: str = ""
    auth_token: SecretStr | None = Field(
        default=None, description="Validates X-Twilio-Signature on webhooks; with account_sid enables REST transfer."
    )
    api_base_url: str = "https://api.twilio.com"
    transfer_via: Literal["auto", "stream_close", "rest"] = "auto"

    @property
    def rest_enabled(self) -> bool:
        ready = bool(self.account_sid and self.auth_token)
        return ready and self.transfer_via != "stream_close"


class TelnyxSettings(_Section):
    api_key: SecretStr | None = Field(
        default=None, description="Call Control API key: required to answer, transfer and hang up Telnyx calls."
    )
    public_key: str | None = Field(
        default=None, description="The account's Ed25519 public key (base64): verifies telnyx-signature-ed25519."
    )

    @field_validator("public_key")
    @classmethod
    def _an_ed25519_key(cls, value: str | None) -> str | None:
        try:
            ok = value is None or len(base64.b64decode(value, validate=True)) == 32
        except binascii.Error:
            ok = False
        if not ok:
            raise ValueError("must be the base64 of a 32-byte Ed25519 public key (Telnyx portal, Public Key)")
        return value

    api_base_url: str = "https://api.telnyx.com"


class PlivoSettings(_Section):
    auth_token: SecretStr | None = Field(
        default=None, description="The account's auth token: verifies X-Plivo-Signature-V3 on /plivo/* webhooks."
    )


class VonageSettings(_Section):
    application_id: str = ""
    private_key: SecretStr | None = Field(default=None, description="The application's private key (PEM text).")
    private_key_file: Path | None = Field(default=None, description="Or a file holding it.")
    api_base_url: str = "https://api.nexmo.com"

    @property
    def rest_enabled(self) -> bool:
        return bool(self.application_id and (self.private_key or self.private_key_file))

    def private_key_pem(self) -> str:
        if self.private_key is not None:
            return self.private_key.get_secret_value()
        if self.private_key_file is None:
            raise ValueError("vonage.private_key or vonage.private_key_file is required")
        return self.private_key_file.read_text()


class DialogueSettings(_Section):
    silence_timeout_secs: float = 6.0
    max_silent_prompts: int = 2
    max_misunderstandings: int = 2
    intent_threshold: float = Field(
        default=0.7, ge=0, le=1, description="Confidence at which the bot acts on what it understood."
    )
    confirm_threshold: float = Field(
        default=0.4, ge=0, le=1, description="Below intent_threshold and at least this: the bot asks to confirm."
    )
    embedder: Literal["use-multilingual-v3", "none"] = Field(
        default="use-multilingual-v3", description="Sentence encoder of the semantic matcher; none: keywords alone."
    )
    intents_file: Path | None = Field(default=None, description="Extra intents TOML merged over the bundled table.")
    crm_budget_secs: float = 1.5


class VADSettings(_Section):
    engine: Literal["silero", "webrtc"] = "silero"
    confidence: float = 0.7
    start_secs: float = 0.2
    stop_secs: float = Field(
        default=0.2, description="Silence after which a turn's end is judged ([turn] decides how long to wait)."
    )
    min_volume: float = 0.5
    webrtc_aggressiveness: int = Field(default=2, ge=0, le=3)


class LimitsSettings(_Section):
    max_calls: int = Field(
        default=32, ge=1, description="Calls at once per server process; more are refused and go to an agent."
    )
    max_call_secs: int = Field(default=1800, ge=10, description="A call this long is handed to an agent.")
    idle_secs: float = Field(default=20.0, gt=0, description="A media stream silent (no messages) this long ends.")
    drain_secs: float = Field(
        default=30.0, ge=0, description="On SIGTERM, how long calls in progress may go on before an agent takes them."
    )
    max_message_bytes: int = Field(
        default=65536, ge=1024, description="Larger websocket messages end their call (close code 1009)."
    )


class RetentionSettings(_Section):
    days: int = Field(
        default=30,
        ge=1,
        description="Call records (transcripts, pops) and delivered notes older than this are deleted.",
    )


class TurnSettings(_Section):
    look_secs: float = Field(
        default=0.2,
        ge=0,
        description="Silence after which the turn so far is transcribed and judged, ahead of its end.",
    )
    brief_secs: float = Field(
        default=0.45,
        ge=0,
        description="Silence that ends an answer of three words or fewer ('Agent.', 'A person.'); 0.25 answers them"
        " ~130 ms sooner but cut slow callers at their commas ('Again, | please.'): docs/benchmarks.md.",
    )
    answer_secs: float = Field(
        default=0.45,
        ge=0,
        description="Silence that ends a longer turn answering the question just asked (a comma pause is shorter).",
    )
    hold_secs: float = Field(
        default=1.1,
        ge=0,
        description="Silence that ends a lone 'yes,'/'sorry,' or a turn the dialogue does not understand,"
        " unless Smart Turn hears the voice end.",
    )
    unfinished_secs: float = Field(
        default=1.5, ge=0, description="Silence that ends a turn whose words lead on ('I'm calling about my...')."
    )
    resume_secs: float = Field(
        default=1.0,
        ge=0,
        description="A caller going on this soon after their turn ended had not finished: the bot stops, one turn.",
    )
    smart_turn: bool = Field(
        default=False,
        description="Let Smart Turn v3.2 (bundled with pipecat) end a held turn it hears finished;"
        " off: on synthetic callers it cut off more than it saved (docs/benchmarks.md).",
    )
    complete_threshold: float = Field(
        default=0.5, ge=0, le=1, description="Smart Turn's P(complete) at or above which a held turn ends at once."
    )


class STTSettings(_Section):
    engine: Literal["faster-whisper", "openai-whisper"] = "faster-whisper"
    openai_checkpoint: Path | None = Field(
        default=None, description="openai-whisper checkpoint. Default: ~/.cache/whisper/tiny.en.pt."
    )
    model: Path | None = Field(
        default=None, description="CTranslate2 Whisper directory. Default: the one bundled_model names."
    )
    bundled_model: Literal["tiny.en", "base"] = Field(
        default="tiny.en", description="tiny.en (bundled), or base (multilingual; the voicebot[whisper-base] extra)."
    )
    hints: bool = Field(
        default=True, description="Prompt Whisper with the words the last question makes likely (menu, name)."
    )
    compute_type: str = "int8"
    cpu_threads: int = 2
    num_workers: int = 1
    beam_size: int = 1
    window: Literal["fitted", "full"] = Field(
        default="fitted", description="Encoder window: fitted to the turn (fast) or Whisper's full 30 s."
    )


class TTSSettings(_Section):
    voice: Path | None = Field(
        default=None, description="Piper .onnx voice (its .onnx.json beside it). Default: bundled."
    )
    length_scale: float = 1.0
    cache_size: int = 256


class DynamicsSettings(_Section):
    org_url: str = Field(default="", description="https://<org>.crm.dynamics.com")
    tenant_id: str = ""
    client_id: str = ""
    client_secret: SecretStr | None = None
    authority_url: str = "https://login.microsoftonline.com"
    app_id: str = Field(default="", description="Model-driven app id used in screen-pop URLs.")
    phone_columns: list[str] = ["telephone1", "mobilephone", "telephone2"]
    cases: Literal["prefer_active", "active_only", "newest"] = Field(
        default="active_only",
        description="Which case is the caller's: an active one only (as the other back ends), the newest active else "
        "the newest closed (prefer_active), or the newest whatever its state.",
    )
    note_kind: Literal["phonecall", "annotation"] = "phonecall"


class ZendeskSettings(_Section):
    subdomain: str = ""
    base_url: str | None = Field(default=None, description="Default: https://<subdomain>.zendesk.com")
    email: str = ""
    api_token: SecretStr | None = None
    oauth_token: SecretStr | None = None
    create_ticket_for_unknown: bool = False

    @property
    def url(self) -> str:
        return (self.base_url or f"https://{self.subdomain}.zendesk.com").rstrip("/")


class CRMSettings(_Section):
    backend: Literal["local", "dynamics", "zendesk"] = "local"
    local_path: Path | None = Field(
        default=None,
        description="SQLite file of the embedded CRM. Default: the store.url database, else <data_dir>/crm.sqlite3.",
    )
    seed_demo_data: bool = True
    request_timeout_secs: float = 1.0
    max_attempts: int = 3
    retry_after_max_secs: float = 5.0
    breaker_failures: int = 5
    breaker_reset_secs: float = 30.0
    dynamics: DynamicsSettings = DynamicsSettings()
    zendesk: ZendeskSettings = ZendeskSettings()


class OutboxSettings(_Section):
    max_attempts: int = 12
    backoff_base_secs: float = 1.0
    backoff_max_secs: float = 300.0
    concurrency: int = Field(default=4, ge=1, description="Deliveries at once per process (CRM notes, pop webhooks).")


class GenesysSettings(_Section):
    api_key: SecretStr | None = Field(
        default=None,
        description="X-API-KEY the AudioConnector integration sends; unset, only loopback clients may connect.",
    )


class GraphSettings(_Section):
    """Microsoft Graph, for the Teams agents' presence: an app registration with Presence.Read.All (application)."""

    tenant_id: str = ""
    client_id: str = ""
    client_secret: SecretStr | None = None
    authority_url: str = "https://login.microsoftonline.com"
    url: str = "https://graph.microsoft.com"

    @property
    def configured(self) -> bool:
        return bool(self.tenant_id and self.client_id and self.client_secret is not None)


class AcsSettings(_Section):
    """Azure Communication Services Call Automation: Event Grid brings the call, REST answers it onto a websocket."""

    endpoint: str = Field(default="", description="https://<resource>.communication.azure.com")
    access_key: SecretStr | None = Field(default=None, description="The resource's access key (signs REST requests).")
    connection_string: SecretStr | None = Field(
        default=None, description="Or the resource's connection string: endpoint=https://...;accesskey=..."
    )
    api_version: str = "2025-06-15"
    incoming_secret: SecretStr | None = Field(
        default=None,
        description="The ?code= secret in the Event Grid subscription's URL; unset, only local clients may post.",
    )
    resource_id: str | None = Field(
        default=None, description="The resource's immutable id: the audience of ACS's callback and websocket JWTs."
    )
    issuer: str = "https://acscallautomation.communication.azure.com"
    jwks_url: str = "https://acscallautomation.communication.azure.com/calling/keys"
    fallback_number: str | None = Field(
        default=None, description="Where a caller goes when every transfer target failed (E.164)."
    )
    queues: dict[str, str] = Field(
        default={},
        description="transfer.* queue name -> the number (E.164) or Teams user (Entra object id) that takes it.",
    )
    teams_agents: list[str] = Field(
        default=[], description="Teams agents (Entra object ids): a caller goes to one Graph shows Available."
    )
    teams_agents_by_reason: dict[str, list[str]] = Field(
        default={}, description="Transfer reason -> its own Teams agents, instead of teams_agents."
    )
    presence_budget_secs: float = Field(
        default=1.0, gt=0, description="Longest wait for Graph presence; past it the caller goes to the queue."
    )
    graph: GraphSettings = GraphSettings()

    @model_validator(mode="after")
    def _one_credential(self) -> AcsSettings:
        if self.connection_string is not None and (self.endpoint or self.access_key is not None):
            raise ValueError("acs.connection_string replaces acs.endpoint and acs.access_key: set one or the other")
        self.credentials()  # a malformed connection string fails at start-up, naming the key
        if (self.teams_agents or self.teams_agents_by_reason) and not self.graph.configured:
            raise ValueError("acs.teams_agents need acs.graph.tenant_id, client_id and client_secret (for presence)")
        return self

    def credentials(self) -> tuple[str, str] | None:
        """(endpoint, access key), from the connection string or the two keys; None if not configured."""
        if self.connection_string is not None:
            parts = dict(
                part.split("=", 1) for part in self.connection_string.get_secret_value().split(";") if "=" in part
            )
            lowered = {k.strip().lower(): v.strip() for k, v in parts.items()}
            if "endpoint" not in lowered or "accesskey" not in lowered:
                raise ValueError("acs.connection_string: format is endpoint=https://<resource>/;accesskey=<key>")
            return lowered["endpoint"].rstrip("/"), lowered["accesskey"]
        if self.endpoint and self.access_key is not None:
            return self.endpoint.rstrip("/"), self.access_key.get_secret_value()
        return None


class WebexSettings(_Section):
    """Webex Contact Center's Bring Your Own Virtual Agent: Webex calls voicebot over gRPC, one RPC per turn."""

    grpc_port: int | None = Field(
        default=None, ge=1, le=65535, description="The BYOVA gRPC port; unset, Webex Contact Center is off."
    )
    grpc_host: str | None = Field(default=None, description="Address the gRPC server binds; default server.host.")
    datasource_url: str | None = Field(
        default=None,
        description="The data-source URL registered with Webex, character for character; every RPC's token must "
        "name it. Unset, only local clients (the simulator, tests) may connect.",
    )
    audience: str | None = Field(default=None, description="The registered audience the token must carry.")
    subject: str | None = Field(default=None, description="The registered subject the token must carry.")
    issuers: list[str] | None = Field(
        default=None, description="Token issuers trusted; default: Webex's identity brokers. Change for tests only."
    )
    tls_cert: Path | None = Field(default=None, description="PEM certificate chain; with tls_key, serve gRPC on TLS.")
    tls_key: Path | None = None
    client_ca: Path | None = Field(
        default=None, description="PEM CA bundle for mutual TLS: Webex must present a certificate it signed."
    )
    reply_mode: Literal["chunk", "wav"] = Field(
        default="chunk",
        description="chunk: each sentence streamed as raw mu-law CHUNKs as soon as it is rendered, then an empty "
        "FINAL; wav: each reply as WAV prompts in one FINAL.",
    )
    virtual_agent_id: str = Field(default="voicebot", description="The bot as Flow Designer lists it.")
    virtual_agent_name: str = "voicebot"
    ani_keys: list[str] = Field(
        default=[
            "ani",
            "ANI",
            "callerNumber",
            "callingNumber",
            "calling_number",
            "caller_number",
            "phoneNumber",
            "from",
        ],
        description="SESSION_START parameters (the activity's State Event data) that may hold the caller's number.",
    )
    dialed_keys: list[str] = ["dnis", "DNIS", "dialedNumber", "dialed_number", "to"]

    @model_validator(mode="after")
    def _tls_pair(self) -> WebexSettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("webex.tls_cert and webex.tls_key go together")
        if self.client_ca is not None and self.tls_cert is None:
            raise ValueError("webex.client_ca (mutual TLS) needs webex.tls_cert and webex.tls_key")
        return self


class CifSettings(_Section):
    """The Dynamics 365 Channel Integration Framework widget (``/cif/widget``)."""

    org_url: str | None = Field(
        default=None,
        description="https://<org>.crm.dynamics.com, whose CIF library the widget loads; default crm.dynamics.org_url.",
    )
    session_template: str = Field(
        default="voicebot_call", description="Unique name of the session template created in Customer Service."
    )


class AccessSettings(_Section):
    token: SecretStr | None = Field(
        default=None,
        description="Required by /agent, /phone, /cif, /api/*, /crm/* and /metrics; unset, local clients only.",
    )
    media_secret: SecretStr | None = Field(
        default=None,
        description="Signs per-call media-stream tokens; unset, only local clients may open a media stream.",
    )


def _url_of(value: SecretStr | None, schemes: tuple[str, ...], key: str) -> SecretStr | None:
    if value is not None and value.get_secret_value().split("://", 1)[0] not in schemes:
        raise ValueError(f"{key} must start with {' or '.join(s + '://' for s in schemes)}")
    return value


class EventsSettings(_Section):
    url: SecretStr | None = Field(
        default=None,
        description="Live call events shared by every node (redis://[:password@]host:6379/0). "
        "Unset: this node's processes only.",
    )

    @field_validator("url")
    @classmethod
    def _redis(cls, value: SecretStr | None) -> SecretStr | None:
        return _url_of(value, ("redis", "rediss"), "events.url")


class StoreSettings(_Section):
    url: SecretStr | None = Field(
        default=None,
        description="Call records and the outbox shared by every node (postgresql://user:password@host:5432/db). "
        "Unset: SQLite files in data_dir.",
    )
    node_lease_secs: float = Field(
        default=15.0,
        gt=0,
        description="A node silent this long is dead: it leaves GET /api/nodes and, with store.url, "
        "another node closes and notes its calls.",
    )

    @field_validator("url")
    @classmethod
    def _postgres(cls, value: SecretStr | None) -> SecretStr | None:
        return _url_of(value, ("postgresql", "postgres"), "store.url")

    @property
    def backend(self) -> str:
        return "sqlite" if self.url is None else "postgresql"


class ScreenPopSettings(_Section):
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    timeout_secs: float = 5.0
    max_attempts: int = 4


class Settings(_Section):
    data_dir: Path = Path("voicebot-data")
    media_dir: Path | None = Field(default=None, description="Hold music and prompts. Default: bundled.")
    log_level: str = "INFO"
    server: ServerSettings = ServerSettings()
    telephony: TelephonySettings = TelephonySettings()
    transfer: TransferSettings = TransferSettings()
    twilio: TwilioSettings = TwilioSettings()
    genesys: GenesysSettings = GenesysSettings()
    webex: WebexSettings = WebexSettings()
    acs: AcsSettings = AcsSettings()
    cif: CifSettings = CifSettings()
    telnyx: TelnyxSettings = TelnyxSettings()
    plivo: PlivoSettings = PlivoSettings()
    vonage: VonageSettings = VonageSettings()
    dialogue: DialogueSettings = DialogueSettings()
    vad: VADSettings = VADSettings()
    turn: TurnSettings = TurnSettings()
    limits: LimitsSettings = LimitsSettings()
    retention: RetentionSettings = RetentionSettings()
    stt: STTSettings = STTSettings()
    tts: TTSSettings = TTSSettings()
    crm: CRMSettings = CRMSettings()
    screen_pop: ScreenPopSettings = ScreenPopSettings()
    outbox: OutboxSettings = OutboxSettings()
    store: StoreSettings = StoreSettings()
    events: EventsSettings = EventsSettings()
    access: AccessSettings = AccessSettings()

    @model_validator(mode="after")
    def _webex_in_one_process(self) -> Settings:
        if self.webex.grpc_port is not None and self.server.workers > 1:
            # A conversation's turns are separate RPCs, each may land on any process holding the port.
            raise ValueError("webex.grpc_port needs server.workers = 1: a Webex conversation lives in one process")
        return self

    @property
    def crm_path(self) -> Path:
        return self.crm.local_path or self.data_dir / "crm.sqlite3"

    @property
    def crm_database(self) -> Path | str:
        """The embedded CRM's database: ``crm.local_path`` if set, else the nodes' ``store.url``, else data_dir."""
        if self.crm.local_path is None and self.store.url is not None:
            return self.store.url.get_secret_value()
        return self.crm_path

    @property
    def calls_path(self) -> Path:
        return self.data_dir / "calls.sqlite3"

    @property
    def outbox_path(self) -> Path:
        return self.data_dir / "outbox.sqlite3"

    @property
    def events_path(self) -> Path:
        """The live events the ``--workers`` processes share with each other's agent desktops."""
        return self.data_dir / "events.sqlite3"

    def masked(self) -> dict[str, Any]:
        """The settings as plain data with every secret replaced by ``********``."""
        return json.loads(self.model_dump_json())


def _env_keys(environ: Mapping[str, str]) -> dict[str, KeyPath]:
    """Each ``VOICEBOT_*`` variable that sets a key, with that key's path."""
    return {
        name: tuple(name[len(ENV_PREFIX) :].lower().split("__"))
        for name in environ
        if name.startswith(ENV_PREFIX) and name != CONFIG_VARIABLE
    }


def _env_value(value: str) -> Any:
    """Lists and tables come as JSON (``VOICEBOT_CRM__DYNAMICS__PHONE_COLUMNS='["telephone1"]'``)."""
    if value.strip().startswith(("[", "{")):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            pass
    return value


def _nested(path: KeyPath, value: Any) -> dict[str, Any]:
    for part in reversed(path[1:]):
        value = {part: value}
    return {path[0]: value}


def merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` laid over ``base``, tables merged key by key."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_settings(
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Read ``path`` (TOML), apply ``VOICEBOT_*`` variables, then explicit overrides.

    Explicit overrides are what the command line gave (``--port``, ``--data-dir``);
    they win over the environment, which wins over the file. Anything wrong is a
    :class:`ConfigError` that names the file, variable or key to fix.
    """
    environ = os.environ if environ is None else environ
    named_by = ""
    if path is None and CONFIG_VARIABLE in environ:
        path, named_by = Path(environ[CONFIG_VARIABLE]), f" (from {CONFIG_VARIABLE})"
    data = _read_toml(path, named_by) if path is not None else {}
    _refuse_unknown_keys(data, f" in {path}")
    env: dict[str, dict[str, Any]] = {}
    for name, key in _env_keys(environ).items():
        env[name] = _nested(key, _env_value(environ[name]))
        _refuse_unknown_variable(name, key, env[name])
        data = merge(data, env[name])
    given = {k: v for k, v in overrides.items() if v is not None}
    _refuse_unknown_keys(given, "")
    try:
        return Settings.model_validate(merge(data, given))
    except ValidationError as exc:
        error = exc.errors()[0]
        problem = error["msg"].removeprefix("Value error, ")
        problem = f"{problem[:1].lower()}{problem[1:]}"
        if not error["loc"]:  # a rule across sections names its keys itself
            raise ConfigError(f"{path or 'settings'}: {problem}") from None
        raise ConfigError(f"{_source(tuple(error['loc']), path, env, given)}: {problem}") from None


def _read_toml(path: Path, named_by: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"no such configuration file: {path}{named_by}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration file {path}{named_by}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}{named_by} is not valid TOML: {exc}") from None


def _refuse_unknown_keys(data: Mapping[str, Any], where: str) -> None:
    """``where`` is `` in FILE``, or empty for the keys a program gave."""
    if (key := _unknown_key(data)) is None:
        return
    table = _is_table(data, key)
    spell: Callable[[KeyPath], str] = (lambda k: f"[{_dotted(k)}]") if table else _dotted
    nearest = _nearest(key)
    kind = "section" if table else "setting"
    raise ConfigError(f"unknown {kind} {spell(key)}{where}{_hint(spell(nearest) if nearest else None)}")


def _refuse_unknown_variable(name: str, key: KeyPath, value: Mapping[str, Any]) -> None:
    if (unknown := _unknown_key(value)) is None:
        return
    if len(unknown) > len(key):  # the name is right, a key of the JSON table it gives is not
        _refuse_unknown_keys(value, f" in {name}")  # raises
    nearest = _nearest(key)
    hint = _hint(_env_name(nearest) if nearest else None)
    raise ConfigError(f"unknown setting {name} (from the environment){hint}")


def _source(
    loc: tuple[str | int, ...], path: Path | None, env: Mapping[str, Mapping[str, Any]], given: Mapping[str, Any]
) -> str:
    """Who set the value at ``loc``: the command line (which wins), a variable, else the file."""
    if not _gives(given, loc):
        for name, value in env.items():
            if _gives(value, loc):
                return f"{name} (from the environment)"
        if path is not None:
            return f"{_dotted(loc)} in {path}"
    return _dotted(loc)


def _gives(data: Mapping[str, Any], loc: tuple[str | int, ...]) -> bool:
    """Whether ``data`` holds the value at ``loc``, or the list or non-table value it is part of."""
    node: Any = data
    for part in loc:
        if not isinstance(node, Mapping):
            return True
        if part not in node:
            return False
        node = node[part]
    return True


def _section(field: FieldInfo) -> type[BaseModel] | None:
    kind = field.annotation
    return kind if isinstance(kind, type) and issubclass(kind, BaseModel) else None


def _unknown_key(data: Mapping[str, Any], model: type[BaseModel] = Settings, prefix: KeyPath = ()) -> KeyPath | None:
    """The first key in ``data`` that is no setting, as its path from the top."""
    for name, value in data.items():
        field = model.model_fields.get(name)
        if field is None:
            return (*prefix, name)
        section = _section(field)
        if section is not None and isinstance(value, Mapping):
            if (found := _unknown_key(value, section, (*prefix, name))) is not None:
                return found
    return None


def _is_table(data: Mapping[str, Any], key: KeyPath) -> bool:
    node: Any = data
    for part in key:
        node = node[part]
    return isinstance(node, Mapping)


def _nearest(key: KeyPath) -> KeyPath | None:
    """The setting ``key`` most likely meant: each part corrected within its section, else the one setting
    of that name elsewhere (``port`` is ``server.port``)."""
    return _corrected(key, Settings) or _elsewhere(key[-1])


def _corrected(key: KeyPath, model: type[BaseModel]) -> KeyPath | None:
    names = list(model.model_fields)
    close = [key[0]] if key[0] in names else difflib.get_close_matches(key[0], names, n=1)
    if not close:
        return None
    head = close[0]
    if len(key) == 1:
        return (head,)
    section = _section(model.model_fields[head])
    rest = None if section is None else _corrected(key[1:], section)
    return None if rest is None else (head, *rest)


def _elsewhere(name: str) -> KeyPath | None:
    keys = list(_all_keys(Settings))
    close = difflib.get_close_matches(name, {key[-1] for key in keys}, n=1)
    found = [key for key in keys if close and key[-1] == close[0]]
    return found[0] if len(found) == 1 else None


def _all_keys(model: type[BaseModel], prefix: KeyPath = ()) -> Iterator[KeyPath]:
    for name, field in model.model_fields.items():
        yield (*prefix, name)
        if (section := _section(field)) is not None:
            yield from _all_keys(section, (*prefix, name))


def _hint(nearest: str | None) -> str:
    return f"; did you mean {nearest}?" if nearest else ""


def _dotted(loc: tuple[str | int, ...]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")


def _env_name(key: KeyPath) -> str:
    return ENV_PREFIX + "__".join(key).upper()
