"""The BYOVA gRPC server, started beside the HTTP server when ``webex.grpc_port`` is set.

Webex connects as the client (its "Universal Harness"), over TLS with a
publicly trusted certificate: either this server's own (``webex.tls_cert``,
``webex.tls_key``, optionally mutual TLS with ``webex.client_ca``) or a proxy's
in front of a plaintext port that speaks HTTP/2.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc import aio

from voicebot.config import ConfigError, Settings
from voicebot.pipeline.services import CallServices
from voicebot.server.calls import CallRegistry
from voicebot.telephony.webex.auth import WebexTokenInterceptor
from voicebot.telephony.webex.health import add_health
from voicebot.telephony.webex.jws import WEBEX_ISSUERS, TokenVerifier
from voicebot.telephony.webex.service import VirtualAgent, add_virtual_agent

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 4 * 1024 * 1024


def _pem(path: Path, key: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {path} ({exc.strerror})") from None


@dataclass
class WebexServer:
    server: aio.Server
    agent: VirtualAgent
    verifier: TokenVerifier | None
    port: int

    @classmethod
    async def start(cls, settings: Settings, services: CallServices, calls: CallRegistry) -> WebexServer:
        webex = settings.webex
        assert webex.grpc_port is not None
        verifier = None
        if webex.datasource_url:
            verifier = TokenVerifier(
                webex.datasource_url,
                audience=webex.audience,
                subject=webex.subject,
                issuers=frozenset(webex.issuers) if webex.issuers else WEBEX_ISSUERS,
            )
        server = aio.server(
            interceptors=[WebexTokenInterceptor(verifier)],
            options=[
                ("grpc.so_reuseport", 0),  # a second process on the port must fail, not share the conversations
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ],
        )
        agent = VirtualAgent(settings, services, calls)
        add_virtual_agent(agent, server)
        add_health(server)
        address = f"{webex.grpc_host or settings.server.host}:{webex.grpc_port}"
        try:
            if webex.tls_cert is not None and webex.tls_key is not None:
                credentials = grpc.ssl_server_credentials(
                    [(_pem(webex.tls_key, "webex.tls_key"), _pem(webex.tls_cert, "webex.tls_cert"))],
                    root_certificates=_pem(webex.client_ca, "webex.client_ca") if webex.client_ca else None,
                    require_client_auth=webex.client_ca is not None,
                )
                port = server.add_secure_port(address, credentials)
            else:
                port = server.add_insecure_port(address)
        except RuntimeError as exc:
            raise ConfigError(f"webex.grpc_port: cannot listen on {address} ({exc})") from None
        await server.start()
        log.info(
            "webex BYOVA gRPC on %s (%s, %s)",
            address,
            "TLS" if webex.tls_cert else "plaintext",
            "tokens checked" if verifier else "local clients only: webex.datasource_url is not set",
        )
        return cls(server, agent, verifier, port)

    async def aclose(self) -> None:
        await self.server.stop(grace=2.0)
        await self.agent.aclose()
        if self.verifier is not None:
            await self.verifier.aclose()
