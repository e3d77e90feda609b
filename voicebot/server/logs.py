"""Process logging: the standard library's, with pipecat's loguru output kept quiet unless debugging.

Request lines are logged by uvicorn with their query strings, where a token
(``/agent?token=``, a media stream's ``?token=``) or a caller's number and name
(``/crm/cases/new?phone=``) may be; :class:`RedactQueries` blanks those values.
httpx would log every CRM request URL at INFO, and a look-up's URL holds the
caller's number, so it logs warnings only (our CRM clients log failures masked).
"""

from __future__ import annotations

import logging
import re
import sys

REDACTED_PARAMS = ("token", "phone", "customer_name", "From", "To", "Caller")
_QUERY_VALUE = re.compile(rf"([?&](?:{'|'.join(REDACTED_PARAMS)})=)[^&\s\"']*")


class RedactQueries(logging.Filter):
    """Redacts the record's arguments one by one: uvicorn's access formatter unpacks them again."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(_redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str) and not record.args:
            record.msg = _redact(record.msg)
        return True


def _redact(text: str) -> str:
    return _QUERY_VALUE.sub(r"\1***", text)


def setup_logging(level: str) -> None:
    from loguru import logger as loguru_logger

    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in ("uvicorn.access", "uvicorn.error"):  # filters survive uvicorn's own logging config
        logging.getLogger(name).addFilter(RedactQueries())
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # pipecat logs through loguru, verbosely (transcripts included) at DEBUG.
    loguru_logger.remove()
    loguru_logger.add(sys.stderr, level="DEBUG" if level.upper() == "DEBUG" else "WARNING")
