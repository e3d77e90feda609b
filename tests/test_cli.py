"""The voicebot command: manage the embedded CRM and show the configuration."""

import json

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
