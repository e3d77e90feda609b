"""Every Virtual Agent RPC carries the Webex identity broker's token; health checks carry none and need none.

A refusal is ``UNAUTHENTICATED`` on the handler of the method's own kind (the
bidirectional ``ProcessCallerInput`` refused as a stream, not as a unary call).
The ``trackingid`` metadata is logged with it, for Cisco support. Without a
registered data source (``webex.datasource_url``) there is no token to check,
and only clients on this machine get in, as with the other platforms' secrets.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from grpc import aio

from voicebot.telephony.webex.jws import InvalidToken, TokenVerifier

log = logging.getLogger(__name__)

GUARDED_SERVICE = "/com.cisco.wcc.ccai.media.v1.VoiceVirtualAgent/"


class WebexTokenInterceptor(aio.ServerInterceptor):
    """The guarded service's handlers are coroutines (not async generators): see :func:`_local_only`."""

    def __init__(self, verifier: TokenVerifier | None):
        self._verifier = verifier

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or not details.method.startswith(GUARDED_SERVICE):
            return handler
        metadata = dict(details.invocation_metadata or ())
        if self._verifier is None:
            return _local_only(handler)
        try:
            await self._verifier.verify(_text(metadata.get("authorization")))
        except InvalidToken as exc:
            log.warning("webex %s refused: %s (trackingid %s)", details.method, exc, _text(metadata.get("trackingid")))
            return _refusal(handler, str(exc))
        return handler


def _text(value: Any) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _refusal(handler: grpc.RpcMethodHandler, reason: str) -> grpc.RpcMethodHandler:
    async def refuse_unary(request: Any, context: aio.ServicerContext) -> None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, reason)

    async def refuse_stream(requests: Any, context: aio.ServicerContext) -> None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, reason)

    kinds = (handler.request_streaming, handler.response_streaming)
    deserializer, serializer = handler.request_deserializer, handler.response_serializer
    if kinds == (True, True):
        return grpc.stream_stream_rpc_method_handler(refuse_stream, deserializer, serializer)
    if kinds == (True, False):
        return grpc.stream_unary_rpc_method_handler(refuse_stream, deserializer, serializer)
    if kinds == (False, True):
        return grpc.unary_stream_rpc_method_handler(refuse_unary, deserializer, serializer)
    return grpc.unary_unary_rpc_method_handler(refuse_unary, deserializer, serializer)


def is_local_peer(peer: str) -> bool:
    """gRPC's peer string (``ipv4:127.0.0.1:5000``, ``ipv6:[::1]:5000``) names a loopback address."""
    kind, _, rest = peer.partition(":")
    if kind == "unix":
        return True
    host = rest.rsplit(":", 1)[0].strip("[]")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _local_only(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """The handler, for clients on this machine only: there is no data source, so no token to ask for."""
    reason = "webex.datasource_url is not set: only local clients may connect"

    async def guard(context: aio.ServicerContext) -> None:
        if not is_local_peer(context.peer()):
            log.warning("webex RPC from %s refused: %s", context.peer(), reason)
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, reason)

    deserializer, serializer = handler.request_deserializer, handler.response_serializer
    if handler.request_streaming and handler.response_streaming:
        streams = handler.stream_stream

        async def guarded_stream(requests: Any, context: aio.ServicerContext) -> None:
            await guard(context)
            await streams(requests, context)

        return grpc.stream_stream_rpc_method_handler(guarded_stream, deserializer, serializer)
    if handler.request_streaming or handler.response_streaming:
        raise TypeError("the Virtual Agent service has only bidirectional and unary methods")
    unary = handler.unary_unary

    async def guarded_unary(request: Any, context: aio.ServicerContext) -> Any:
        await guard(context)
        return await unary(request, context)

    return grpc.unary_unary_rpc_method_handler(guarded_unary, deserializer, serializer)
