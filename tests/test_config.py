"""Configuration: TOML file, then VOICEBOT_* environment, then command-line flags."""

import re
from pathlib import Path

import pytest

from voicebot.config import ConfigError, load_settings

ROOT = Path(__file__).parents[1]


def test_defaults_run_on_the_embedded_crm_with_no_file_and_no_env():
    settings = load_settings(environ={})
    assert settings.crm.backend == "local"
    assert settings.data_dir == Path("voicebot-data")
    assert settings.crm_path == Path("voicebot-data/crm.sqlite3")
    assert settings.vad.engine == "silero"


def test_environment_overrides_the_file_and_flags_override_both(tmp_path):
    config = tmp_path / "voicebot.toml"
    config.write_text('[server]\nport = 9000\n[transfer]\nmode = "dial"\nagent_number = "+15550001"\n')
    settings = load_settings(config, environ={"VOICEBOT_SERVER__PORT": "9100", "VOICEBOT_VAD__ENGINE": "webrtc"})
    assert settings.server.port == 9100 and settings.vad.engine == "webrtc" and settings.transfer.mode == "dial"
    assert load_settings(config, environ={"VOICEBOT_SERVER__PORT": "9100"}, server={"port": 9200}).server.port == 9200


def test_secrets_are_masked_when_shown():
    settings = load_settings(
        environ={
            "VOICEBOT_SCREEN_POP__WEBHOOK_SECRET": "hunter2",
            "VOICEBOT_STORE__URL": "postgresql://voicebot:hunter2@db:5432/voicebot",
        }
    )
    assert settings.screen_pop.webhook_secret.get_secret_value() == "hunter2"
    assert settings.store.backend == "postgresql"
    assert "hunter2" not in str(settings.masked()) and "hunter2" not in repr(settings)


def refusal(tmp_path: Path, toml: str | None = None, **kwargs) -> str:
    """What ``load_settings`` refuses with: always a single line, as the CLI prints it."""
    config = None
    if toml is not None:
        config = tmp_path / "voicebot.toml"
        config.write_text(toml)
    kwargs.setdefault("environ", {})
    with pytest.raises(ConfigError) as refused:
        load_settings(config, **kwargs)
    message = str(refused.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    "environ, message",
    [
        (
            {"VOICEBOT_STT__WINDOWS": "full"},
            "unknown setting VOICEBOT_STT__WINDOWS (from the environment); did you mean VOICEBOT_STT__WINDOW?",
        ),
        (
            {"VOICEBOT_SST__WINDOW": "full"},
            "unknown setting VOICEBOT_SST__WINDOW (from the environment); did you mean VOICEBOT_STT__WINDOW?",
        ),
        (
            {"VOICEBOT_PORT": "9000"},
            "unknown setting VOICEBOT_PORT (from the environment); did you mean VOICEBOT_SERVER__PORT?",
        ),
        ({"VOICEBOT_SERVER__COLOUR": "blue"}, "unknown setting VOICEBOT_SERVER__COLOUR (from the environment)"),
        (
            {"VOICEBOT_STT": '{"windows": "full"}'},
            "unknown setting stt.windows in VOICEBOT_STT; did you mean stt.window?",
        ),
    ],
)
def test_an_unknown_variable_is_named_with_the_nearest_one(tmp_path, environ, message):
    assert refusal(tmp_path, environ=environ) == message


def test_an_unknown_key_or_section_in_the_file_is_named_with_the_nearest_one(tmp_path):
    assert refusal(tmp_path, '[stt]\nwindows = "full"\n').endswith("voicebot.toml; did you mean stt.window?")
    assert refusal(tmp_path, '[sst]\nwindow = "full"\n').startswith("unknown section [sst] in ")
    assert refusal(tmp_path, '[crm.zendsk]\nemail = "a@b.c"\n').endswith("; did you mean [crm.zendesk]?")
    assert refusal(tmp_path, "port = 9000\n").endswith("; did you mean server.port?")


def test_a_missing_or_broken_file_is_named(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=f"^no such configuration file: {re.escape(str(missing))}$"):
        load_settings(missing, environ={})
    with pytest.raises(ConfigError, match=r"no such configuration file: .*nope.toml \(from VOICEBOT_CONFIG\)$"):
        load_settings(environ={"VOICEBOT_CONFIG": str(missing)})
    assert "voicebot.toml is not valid TOML: " in refusal(tmp_path, "[stt\n")


@pytest.mark.parametrize(
    "toml, environ, overrides, message",
    [
        ('[stt]\ncpu_threads = "two"\n', {}, {}, "stt.cpu_threads in {config}: input should be a valid integer"),
        ("", {"VOICEBOT_SERVER__PORT": "http"}, {}, "VOICEBOT_SERVER__PORT (from the environment): input should be"),
        ("", {}, {"server": {"workers": 0}}, "server.workers: input should be greater than or equal to 1"),
        ("", {"VOICEBOT_TELNYX__PUBLIC_KEY": "abc"}, {}, "VOICEBOT_TELNYX__PUBLIC_KEY (from the environment): must be"),
        ('[stt]\nwindow = "half"\n', {}, {}, "stt.window in {config}: input should be 'fitted' or 'full'"),
        (
            "",
            {"VOICEBOT_STORE__URL": "mysql://u:pw@db/voicebot"},
            {},
            "VOICEBOT_STORE__URL (from the environment): store.url must start with postgresql:// or postgres://",
        ),
    ],
)
def test_a_wrong_value_is_named_by_where_it_was_set(tmp_path, toml, environ, overrides, message):
    got = refusal(tmp_path, toml, environ=environ, **overrides)
    assert got.startswith(message.format(config=tmp_path / "voicebot.toml"))


def test_a_flag_names_the_key_it_sets_even_over_a_bad_variable(tmp_path):
    assert refusal(tmp_path, environ={"VOICEBOT_SERVER__WORKERS": "x"}, server={"workers": 0}).startswith(
        "server.workers: "
    )


def test_every_voicebot_variable_the_project_names_is_accepted():
    """The ones in code, docs, CI and benchmarks; the tests that use wrong names on purpose are left out."""
    refusing = {Path(__file__), ROOT / "tests/test_cli.py"}
    files = [
        f
        for d in ("voicebot", "tests", "benchmarks", "scenarios", "scripts", "docs", ".ci")
        for f in (ROOT / d).rglob("*")
    ]
    names = {
        name
        for f in [ROOT / "README.md", *files]
        if f.is_file() and f not in refusing and f.suffix in {"", ".py", ".md", ".toml", ".yaml", ".sh"}
        for name in re.findall(r"\bVOICEBOT_[A-Z0-9_]*[A-Z0-9]\b", f.read_text(errors="replace"))
    }
    assert {"VOICEBOT_CONFIG", "VOICEBOT_ACCESS__TOKEN", "VOICEBOT_SERVER__PORT"} <= names
    for name in names - {"VOICEBOT_CONFIG"}:
        try:
            load_settings(environ={name: "1"})
        except ConfigError as exc:
            assert not str(exc).startswith("unknown"), name
