"""Which nodes are alive, as leases in PostgreSQL: the survivors close a dead node's calls.

A node renews its row every :attr:`NodeLeases.beat_secs`; a row whose lease has
run out means the node died (or lost the database for that long). Renewal
happens before the node takes its first call, so a live node's calls are never
mistaken for orphans.
"""

from __future__ import annotations

from voicebot.storage.postgres.pool import Database


class NodeLeases:
    def __init__(self, url: str, node: str, *, lease_secs: float = 15.0, beat_secs: float = 3.0):
        self._db = Database(url, max_connections=1, name="node-leases")
        self.node = node
        self.lease_secs = lease_secs
        self.beat_secs = beat_secs

    async def renew(self) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO nodes (name, lease_until) VALUES (%s, now() + make_interval(secs => %s))"
                " ON CONFLICT (name) DO UPDATE SET lease_until = EXCLUDED.lease_until",
                (self.node, self.lease_secs),
            )
            await conn.execute("DELETE FROM nodes WHERE lease_until < now() - interval '1 day'")

    async def alive(self) -> list[str]:
        async with self._db.transaction() as conn:
            cur = await conn.execute("SELECT name FROM nodes WHERE lease_until > now() ORDER BY name")
            return [row["name"] for row in await cur.fetchall()]

    async def release(self) -> None:
        """A clean exit: this node's calls have ended, and any it left are anyone's to close at once."""
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM nodes WHERE name = %s", (self.node,))

    async def aclose(self) -> None:
        await self._db.aclose()
