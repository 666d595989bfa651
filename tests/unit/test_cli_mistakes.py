"""The command line answers a user's mistake with one line and a documented exit code,
never a traceback (the ones that need no database; the rest are in
tests/integration/test_cli_mistakes.py)."""
from __future__ import annotations

import socket

import pytest

from api import cli
from api.access_log import AccessLog


def run(argv, capsys):
    try:
        code = cli.main(argv)
    except SystemExit as exit_:  # argparse
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def test_version(capsys):
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out.startswith("pointsbank ")


@pytest.mark.parametrize("to", ["2026-13-45", "tomorrow", "2026-11-30T10:00:00"])
def test_settle_with_a_bad_day_is_one_line_and_exit_2(to, capsys):
    code, _, err = run(["settle", "--realm", "430104", "--to", to], capsys)
    assert code == cli.EXIT_USAGE
    assert to in one_line(err) and "--help" in err


def test_an_unknown_option_is_one_line(capsys):
    code, _, err = run(["tokens", "create", "--role", "boss"], capsys)
    assert code == cli.EXIT_USAGE and "invalid choice" in one_line(err)


def test_every_option_has_help():
    parser = cli.build_parser()
    missing = []

    def walk(p, where):
        for action in p._actions:
            if action.help is None and action.dest not in ("help", "==SUPPRESS=="):
                missing.append(f"{where} {action.option_strings or action.dest}")
            if hasattr(action, "choices") and isinstance(action.choices, dict):
                for name, sub in action.choices.items():
                    walk(sub, f"{where} {name}")

    walk(parser, "pointsbank")
    assert missing == []


def test_a_missing_csv_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    code, _, err = run(["import-attendance", str(tmp_path / "absent.csv")], capsys)
    assert code == cli.EXIT_USAGE and "absent.csv" in one_line(err)


def test_a_report_path_that_cannot_be_written_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    source = tmp_path / "a.csv"
    source.write_text("activity_id,resident_id,minutes\n1,1,60\n")
    code, _, err = run(["import-attendance", str(source), "--report", str(tmp_path / "no" / "r.csv")],
                       capsys)
    assert code == cli.EXIT_USAGE and "r.csv" in one_line(err)


def test_serve_on_a_busy_port_is_its_own_exit_code(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, _, err = run(["serve", "--port", str(port)], capsys)
    assert code == cli.EXIT_PORT_BUSY != cli.EXIT_UNREACHABLE
    assert str(port) in one_line(err)


def test_an_unreachable_database_is_exit_3(capsys, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    code, _, err = run(["vouchers", "expire"], capsys)
    assert code == cli.EXIT_UNREACHABLE and "cannot reach the database" in one_line(err)


async def test_each_request_gets_an_access_line_and_an_id(caplog):
    import httpx

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    transport = httpx.ASGITransport(app=AccessLog(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        with caplog.at_level("INFO", logger="pointsbank.access"):
            answer = await client.get("/v1/things", headers={"X-Request-Id": "abc-123"})
            fresh = await client.get("/v1/other", headers={"X-Request-Id": "bad id;"})
    assert answer.headers["x-request-id"] == "abc-123"
    assert fresh.headers["x-request-id"] != "bad id" and len(fresh.headers["x-request-id"]) == 16
    lines = [r.getMessage() for r in caplog.records if r.name == "pointsbank.access"]
    assert lines[0].startswith("GET /v1/things 204 ") and lines[0].endswith("id=abc-123")
    assert "ms" in lines[0] and len(lines) == 2
