"""Health for Webex's probes: gRPC's standard service and Cisco's, both answering SERVING while the server runs."""

from __future__ import annotations

from collections.abc import AsyncIterator

from grpc import aio

from voicebot.telephony.webex.proto import (
    cisco_health_pb2,
    cisco_health_pb2_grpc,
    health_pb2,
    health_pb2_grpc,
)


class StandardHealth(health_pb2_grpc.HealthServicer):
    async def Check(self, request: health_pb2.HealthCheckRequest, context: aio.ServicerContext):  # noqa: N802
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)

    async def Watch(  # noqa: N802
        self, request: health_pb2.HealthCheckRequest, context: aio.ServicerContext
    ) -> AsyncIterator[health_pb2.HealthCheckResponse]:
        yield health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)


class CiscoHealth(cisco_health_pb2_grpc.HealthServicer):
    async def Check(self, request: cisco_health_pb2.HealthCheckRequest, context: aio.ServicerContext):  # noqa: N802
        return cisco_health_pb2.HealthCheckResponse(status=cisco_health_pb2.HealthCheckResponse.SERVING)

    async def Watch(  # noqa: N802
        self, request: cisco_health_pb2.HealthCheckRequest, context: aio.ServicerContext
    ) -> AsyncIterator[cisco_health_pb2.HealthCheckResponse]:
        yield cisco_health_pb2.HealthCheckResponse(status=cisco_health_pb2.HealthCheckResponse.SERVING)


def add_health(server: aio.Server) -> None:
    health_pb2_grpc.add_HealthServicer_to_server(StandardHealth(), server)
    cisco_health_pb2_grpc.add_HealthServicer_to_server(CiscoHealth(), server)
