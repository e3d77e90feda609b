"""How an ACS call ends: the REST hand-off every forked stream uses, with an agent chosen by Teams presence."""

from __future__ import annotations

from voicebot.config import TransferSettings
from voicebot.telephony.acs.connections import AcsConnections
from voicebot.telephony.control import RESTCallControl
from voicebot.tools.transfer import TransferTarget


class AcsCallControl(RESTCallControl):
    def __init__(self, connections: AcsConnections, call_id: str, settings: TransferSettings, dialed: str):
        super().__init__("acs", connections, settings, dialed)
        self.connections = connections
        self.call_id = call_id

    async def choose(self, proposed: TransferTarget, reason: str) -> TransferTarget:
        return await self.connections.choose(self.call_id, proposed, reason)
