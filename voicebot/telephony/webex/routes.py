"""The HTTP ping Cisco's provider guide asks a virtual agent to serve beside its gRPC health services.

``https://<endpoint>/<service>/v1/ping`` with the guide's fields; which of the
health checks Webex actually probes is not published, so all three answer.
"""

from __future__ import annotations

from fastapi import APIRouter

from voicebot.storage.records import utcnow

router = APIRouter()


@router.get("/voiceva/v1/ping")
async def ping() -> dict[str, str]:
    return {
        "serviceName": "voicebot",
        "serviceType": "REQUIRED",
        "serviceState": "online",
        "message": "voicebot virtual agent is serving",
        "lastUpdated": utcnow(),
    }
