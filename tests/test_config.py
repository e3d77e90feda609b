"""Configuration: TOML file, then VOICEBOT_* environment, then command-line flags."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from voicebot.config import load_settings


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
    settings = load_settings(environ={"VOICEBOT_SCREEN_POP__WEBHOOK_SECRET": "hunter2"})
    assert settings.screen_pop.webhook_secret.get_secret_value() == "hunter2"
    assert "hunter2" not in str(settings.masked()) and "hunter2" not in repr(settings)


def test_unknown_keys_are_rejected_with_their_name():
    with pytest.raises(ValidationError, match="colour"):
        load_settings(environ={"VOICEBOT_SERVER__COLOUR": "blue"})
