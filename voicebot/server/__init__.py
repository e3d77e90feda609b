"""The process: the ASGI app, what calls share, admission, access, shutdown, recovery, metrics and logs."""
