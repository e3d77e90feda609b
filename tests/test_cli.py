"""The voicebot command: manage the embedded CRM and show the configuration."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from voicebot.cli import main


def run(capsys, *argv) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_crm_commands_round_trip(tmp_path, capsys):
    d = str(tmp_path)
    assert (
        run(
            capsys,
            "crm",
            "add-customer",
            "--data-dir",
            d,
            "--phone",
            "+1 617 555 0100",
            "--name",
            "Ann Lee",
            "--email",
            "ann@example.com",
        )[0]
        == 0
    )
    code, out = run(
        capsys,
        "crm",
        "add-case",
        "--data-dir",
        d,
        "--phone",
        "6175550100",
        "--number",
        "CAS-77",
        "--title",
        "No dial tone",
        "--status",
        "Open",
    )
    assert code == 0 and "CAS-77" in out
    code, out = run(capsys, "crm", "list", "--data-dir", d)
    assert "Ann Lee" in out and "CAS-77  Open (open)  No dial tone" in out


def test_list_on_a_fresh_data_dir_shows_the_demo_customers(tmp_path, capsys):
    code, out = run(capsys, "crm", "list", "--data-dir", str(tmp_path))
    assert code == 0 and "Jane Doe" in out and "CAS-01234" in out


def test_adding_a_case_for_an_unknown_number_is_a_clear_error(tmp_path, capsys):
    code = main(
        ["crm", "add-case", "--data-dir", str(tmp_path), "--phone", "+12125550123", "--number", "X", "--title", "Y"]
    )
    assert code == 1
    assert "add the customer first" in capsys.readouterr().err


def test_import_reports_counts(tmp_path, capsys):
    f = tmp_path / "c.json"
    f.write_text(
        json.dumps(
            {"customers": [{"name": "Bo", "phones": ["+16175550101"], "cases": [{"number": "A", "title": "B"}]}]}
        )
    )
    code, out = run(capsys, "crm", "import", str(f), "--data-dir", str(tmp_path))
    assert code == 0 and "imported 1 customers and 1 cases" in out


def test_config_show_masks_secrets(monkeypatch, capsys):
    monkeypatch.setenv("VOICEBOT_SCREEN_POP__WEBHOOK_SECRET", "hunter2")
    code, out = run(capsys, "config", "show")
    shown = json.loads(out)
    assert code == 0 and shown["screen_pop"]["webhook_secret"] == "**********"
    assert "hunter2" not in out


def voicebot(cwd: Path, env: dict[str, str], *argv: str) -> subprocess.CompletedProcess:
    """The command as an operator runs it, with no ``VOICEBOT_*`` variables but ``env``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VOICEBOT_")}
    return subprocess.run(
        [sys.executable, "-m", "voicebot", *argv],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "toml, env, argv, names",
    [
        (
            None,
            {"VOICEBOT_STT__WINDOWS": "full"},
            ["serve"],
            ["VOICEBOT_STT__WINDOWS", "did you mean VOICEBOT_STT__WINDOW?"],
        ),
        ('[stt]\nwindows = "full"\n', {}, ["config", "show"], ["stt.windows", "did you mean stt.window?"]),
        ('[sst]\nwindow = "full"\n', {}, ["serve"], ["[sst]", "did you mean [stt]?"]),
        (None, {}, ["config", "show", "--config", "missing.toml"], ["missing.toml"]),
        (None, {"VOICEBOT_CONFIG": "missing.toml"}, ["crm", "list"], ["missing.toml", "VOICEBOT_CONFIG"]),
        ('[server]\nport = "http"\n', {}, ["purge"], ["server.port", "voicebot.toml"]),
        (None, {"VOICEBOT_SERVER__PORT": "http"}, ["serve"], ["VOICEBOT_SERVER__PORT", "valid integer"]),
        (None, {"VOICEBOT_ACCESS__TOKENS": "x"}, ["call"], ["VOICEBOT_ACCESS__TOKENS", "VOICEBOT_ACCESS__TOKEN?"]),
        (
            None,
            {"VOICEBOT_WEBEX__GRPC_PORT": "50061"},
            ["serve", "--workers", "2"],
            ["webex.grpc_port", "server.workers = 1"],
        ),
        (None, {"VOICEBOT_WEBEX__TLS_CERT": "cert.pem"}, ["serve"], ["webex.tls_cert", "webex.tls_key"]),
    ],
)
def test_a_configuration_mistake_is_one_line_and_exit_2(tmp_path, toml, env, argv, names):
    """Before any model loads: the operator reads one line naming what to fix, never a traceback."""
    if toml is not None:
        (tmp_path / "voicebot.toml").write_text(toml)
        argv = [*argv, "--config", "voicebot.toml"]
    result = voicebot(tmp_path, env, *argv)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("voicebot: ") and all(name in line for name in names), line


def test_a_store_that_cannot_be_reached_is_one_line_that_names_it_and_hides_its_password(tmp_path):
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = f"postgresql://voicebot:hunter2@127.0.0.1:{port}/voicebot"
    result = voicebot(tmp_path, {"VOICEBOT_STORE__URL": url}, "serve", "--port", "0")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"voicebot: store.url: cannot use PostgreSQL at 127.0.0.1:{port}/voicebot: ")
    assert "hunter2" not in line


def test_a_webex_port_another_program_holds_is_one_line_before_any_model_loads(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = voicebot(tmp_path, {"VOICEBOT_WEBEX__GRPC_PORT": str(port)}, "serve", "--port", "0")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("voicebot: webex.grpc_port: cannot listen on 127.0.0.1:") and str(port) in line
