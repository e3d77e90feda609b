"""Request lines reach the log without tokens or callers' details from their query strings."""

import logging

from voicebot.server.logs import RedactQueries


def logged(message: str, *args) -> str:
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, message, args, None)
    assert RedactQueries().filter(record)
    return record.getMessage()


def test_tokens_and_caller_details_in_query_strings_are_blanked():
    line = logged('%s - "%s %s HTTP/1.1" %d', "127.0.0.1:5", "GET", "/agent?token=s3cret&x=1", 200)
    assert line == '127.0.0.1:5 - "GET /agent?token=***&x=1 HTTP/1.1" 200'
    line = logged('"WebSocket %s" [accepted]', "/plivo/media?token=abc")
    assert "abc" not in line and "token=***" in line
    line = logged("GET /crm/cases/new?phone=%2B14155552671&customer_name=Jane+Doe")
    assert "4155552671" not in line and "Jane" not in line


def test_uvicorn_access_lines_still_format():
    from uvicorn.logging import AccessFormatter

    args = ("127.0.0.1:5", "GET", "/agent?token=s3cret", "1.1", 200)
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', args, None)
    RedactQueries().filter(record)
    line = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s').format(record)
    assert "s3cret" not in line and "/agent?token=***" in line


def test_other_lines_are_left_alone():
    assert logged("models loaded in %.2fs", 1.5) == "models loaded in 1.50s"
