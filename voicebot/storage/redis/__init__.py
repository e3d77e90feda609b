"""Redis back ends: live call events shared by every node (``events.url``)."""
