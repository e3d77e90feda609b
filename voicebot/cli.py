"""The ``voicebot`` command: serve, call a running server, manage the embedded CRM, show the configuration."""

from __future__ import annotations

import argparse
import json
import logging
import socket
import sys
import time
import wave
from pathlib import Path
from typing import Any

from voicebot.config import ConfigError, Settings, load_settings
from voicebot.server.logs import setup_logging


def _settings(args: argparse.Namespace) -> Settings:
    server = {
        k: v
        for k, v in {
            "host": getattr(args, "host", None),
            "port": getattr(args, "port", None),
            "workers": getattr(args, "workers", None),
        }.items()
        if v is not None
    }
    return load_settings(args.config, data_dir=args.data_dir, server=server or None)


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)  # first: importing the app logs pipecat's banner, a config error must be one line
    _free_port("webex.grpc_port", settings.webex.grpc_host or settings.server.host, settings.webex.grpc_port)
    _store_ready(settings)
    from voicebot.pipeline.model_files import ModelFileError
    from voicebot.server.app import create_app

    setup_logging(settings.log_level)
    started = time.perf_counter()
    try:
        if settings.server.workers > 1:
            return _serve_workers(args, settings)
        app = create_app(settings)
    except ModelFileError as exc:
        print(f"voicebot: {exc}", file=sys.stderr)
        return 2
    logging.getLogger("voicebot").info(
        "started in %.2fs; listening on http://%s:%d",
        time.perf_counter() - started,
        settings.server.host,
        settings.server.port,
    )
    _uvicorn(app, settings)
    return 0


def _free_port(key: str, host: str, port: int | None) -> None:
    """A port another program holds fails here, in one line, not as a traceback from inside the server's start."""
    if port is None:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"{key}: cannot listen on {host}:{port} ({exc.strerror})") from None


def _store_ready(settings: Settings) -> None:
    """A shared store that cannot be used fails here, in one line; its schema is brought up to date once, here."""
    if settings.store.url is None:
        return
    try:
        from voicebot.storage.postgres.pool import prepare
    except ImportError:
        raise ConfigError('store.url needs PostgreSQL\'s driver: pip install "voicebot[postgres]"') from None
    prepare(settings.store.url.get_secret_value())


def _uvicorn(app: Any, settings: Settings, **options: Any) -> None:
    import uvicorn

    uvicorn.run(
        app,
        host=settings.server.host,
        port=settings.server.port,
        log_level=settings.log_level.lower(),
        ws="websockets-sansio",
        ws_max_size=settings.limits.max_message_bytes,
        ws_per_message_deflate=False,  # base64 audio hardly compresses; deflate was ~10% of the loop's time at 24 calls
        lifespan="on",
        **options,
    )


def _serve_workers(args: argparse.Namespace, settings: Settings) -> int:
    """Several server processes on one port, each with its own models, sharing the data directory.

    The parent prepares what must not be raced (the data directory, the demo
    CRM's first seeding) and hands its settings to the workers through the
    environment, where each worker reads them again.
    """
    import asyncio
    import os
    import shutil

    from voicebot.pipeline.stt import create_decoder
    from voicebot.pipeline.tts import Voice
    from voicebot.server.prometheus import MULTIPROC_ENV
    from voicebot.server.recovery import recover_data_dir
    from voicebot.storage.sqlite.events import EventLog
    from voicebot.tools.crm.base import open_crm

    # A worker that cannot load its models would be restarted forever: check them once, here.
    create_decoder(settings.stt)
    Voice.from_settings(settings.tts)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(open_crm(settings, "").close())
    asyncio.run(recover_data_dir(settings))
    EventLog.prepare(settings.events_path)  # the call store and outbox exist now too: no worker creates a file
    shared_metrics = settings.data_dir / "prometheus"  # every worker's series, so any worker answers /metrics for all
    shutil.rmtree(shared_metrics, ignore_errors=True)
    shared_metrics.mkdir()
    os.environ[MULTIPROC_ENV] = str(shared_metrics.resolve())
    if args.config:
        os.environ["VOICEBOT_CONFIG"] = str(Path(args.config).resolve())
    os.environ["VOICEBOT_DATA_DIR"] = str(settings.data_dir.resolve())
    os.environ["VOICEBOT_SERVER__HOST"] = settings.server.host
    os.environ["VOICEBOT_SERVER__PORT"] = str(settings.server.port)
    os.environ["VOICEBOT_SERVER__WORKERS"] = str(settings.server.workers)
    logging.getLogger("voicebot").info(
        "starting %d workers on http://%s:%d", settings.server.workers, settings.server.host, settings.server.port
    )
    _uvicorn("voicebot.server.app:create_app_from_environment", settings, factory=True, workers=settings.server.workers)
    return 0


def _crm(args: argparse.Namespace):
    from voicebot.tools.crm.local import LocalCRM

    settings = _settings(args)
    if settings.crm.backend != "local":
        raise SystemExit('voicebot crm manages the embedded CRM only (crm.backend = "local")')
    crm = LocalCRM(settings.crm_database, default_region=settings.telephony.default_region)
    if settings.crm.seed_demo_data and crm.is_empty() and args.crm_command == "list":
        crm.seed_demo()
    return crm


def cmd_crm(args: argparse.Namespace) -> int:
    crm = _crm(args)
    try:
        if args.crm_command == "import":
            customers, cases = crm.import_file(Path(args.file))
            print(f"imported {customers} customers and {cases} cases into {crm.where}")
        elif args.crm_command == "add-customer":
            customer = crm.add_customer(name=args.name, phones=[args.phone], email=args.email)
            print(f"customer {customer.id}: {customer.name} {', '.join(customer.phones)}")
        elif args.crm_command == "add-case":
            case = crm.add_case(phone=args.phone, number=args.number, title=args.title, status=args.status)
            print(f"case {case.number} ({case.status}): {case.title}")
        elif args.crm_command == "list":
            for customer, cases in crm.list_customers():
                print(f"{customer.name}  <{customer.email or '-'}>  {', '.join(customer.phones)}  [{customer.id}]")
                for case in cases:
                    flag = "open" if case.is_open else "closed"
                    print(f"    {case.number}  {case.status} ({flag})  {case.title}")
    except (ValueError, LookupError, KeyError, json.JSONDecodeError) as exc:
        print(f"voicebot crm {args.crm_command}: {exc}", file=sys.stderr)
        return 1
    return 0


def _server_tokens(args: argparse.Namespace):
    """Tokens for a server that has secrets: given on the command line, else ``VOICEBOT_ACCESS__*``."""
    from voicebot.caller.tokens import ServerTokens

    return ServerTokens.from_settings(load_settings().access, args.media_token, args.api_token)


def cmd_call(args: argparse.Namespace) -> int:
    import asyncio

    from voicebot.caller.terminal import CallError, CallOptions, place_call

    options = CallOptions(
        url=args.url,
        platform=args.platform,
        ani=args.ani,
        play=Path(args.play) if args.play else None,
        record=Path(args.record) if args.record else None,
        dtmf=args.dtmf or "",
        timeout=args.timeout,
        tokens=_server_tokens(args),
    )
    if options.play is not None and not options.play.is_file():
        print(f"voicebot call: no such file: {options.play}", file=sys.stderr)
        return 2
    try:
        record = asyncio.run(place_call(options))
    except CallError as exc:
        print(f"voicebot call: {exc}", file=sys.stderr)
        return 2
    except (wave.Error, EOFError) as exc:
        print(f"voicebot call: cannot read {options.play} as a WAV file: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0 if record is not None and record.get("outcome") else 1


def cmd_test_calls(args: argparse.Namespace) -> int:
    import asyncio

    setup_logging("WARNING")
    from voicebot.scenarios.model import ScenarioError, find_scenarios
    from voicebot.scenarios.run import RunOptions, run_scenarios

    try:
        files = find_scenarios([Path(p) for p in args.paths])
    except ScenarioError as exc:
        print(f"voicebot test-calls: {exc}", file=sys.stderr)
        return 2
    if args.config:
        load_settings(args.config)  # a broken file fails now, not after the listener's models have loaded
    options = RunOptions(
        url=args.url,
        concurrency=args.concurrency,
        junit=Path(args.junit) if args.junit else None,
        config=args.config,
        tokens=_server_tokens(args),
    )
    try:
        reports = asyncio.run(run_scenarios(files, options))
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"voicebot test-calls: {exc}", file=sys.stderr)
        return 2
    return 0 if all(r.passed or r.skipped for r in reports) else 1


def cmd_bench(args: argparse.Namespace) -> int:
    import asyncio

    setup_logging("WARNING")
    from voicebot.bench.run import BASELINE_SCRIPT, BenchOptions, run_bench

    try:
        levels = [int(n) for n in args.calls.split(",")]
    except ValueError:
        print(f"voicebot bench: --calls takes numbers separated by commas, not {args.calls!r}", file=sys.stderr)
        return 2
    if args.baseline and not BASELINE_SCRIPT.is_file():
        print(f"voicebot bench: --baseline needs the repository's {BASELINE_SCRIPT}", file=sys.stderr)
        return 2
    options = BenchOptions(
        levels=levels,
        rounds=args.rounds,
        baseline=args.baseline,
        url=args.url,
        workers=args.workers,
        stagger_secs=args.stagger,
        json_path=Path(args.json) if args.json else None,
        plot_path=Path(args.plot) if args.plot else None,
        tokens=_server_tokens(args),
        mix=args.mix,
        part=args.part,
        keep=Path(args.keep) if args.keep else None,
    )
    try:
        asyncio.run(run_bench(options))
    except RuntimeError as exc:
        print(f"voicebot bench: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from voicebot.pipeline.stt import default_model_path, default_openai_checkpoint
    from voicebot.pipeline.whisper_checkpoint import write_checkpoint

    source = Path(args.source) if args.source else default_model_path()
    out = Path(args.out) if args.out else default_openai_checkpoint()
    try:
        write_checkpoint(source, out)
    except ImportError:
        print(
            "voicebot models: writing the checkpoint needs torch: pip install 'voicebot[openai-whisper]'",
            file=sys.stderr,
        )
        return 2
    except (OSError, ValueError, KeyError) as exc:
        print(f"voicebot models: cannot convert {source}: {exc}", file=sys.stderr)
        return 2
    print(f"wrote the openai-whisper checkpoint {out} from {source}")
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    """Delete call content older than the retention period now (the server also does it daily)."""
    import asyncio

    from voicebot.server.calls import node_name
    from voicebot.storage.backends import open_storage
    from voicebot.storage.outbox import Outbox
    from voicebot.storage.retention import purge

    settings = _settings(args)
    days = settings.retention.days if args.days is None else args.days
    if days < 1:
        print("voicebot purge: --days must be at least 1", file=sys.stderr)
        return 2

    async def run() -> tuple[int, int]:
        storage = open_storage(settings, node_name())
        outbox = Outbox(storage.outbox, {})
        try:
            return (await purge(storage.calls, outbox, days)).counts
        finally:
            await storage.aclose()
            await outbox.aclose()

    calls, items = asyncio.run(run())
    print(f"deleted {calls} calls (with their transcripts) and {items} delivered outbox items over {days} days old")
    return 0


def cmd_config_show(args: argparse.Namespace) -> int:
    print(json.dumps(_settings(args).masked(), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, help="TOML configuration file (or VOICEBOT_CONFIG)")
    common.add_argument("--data-dir", type=Path, help="where SQLite files live (default ./voicebot-data)")
    tokens = argparse.ArgumentParser(add_help=False)
    tokens.add_argument(
        "--media-token", help="the server's access.media_secret (default: VOICEBOT_ACCESS__MEDIA_SECRET)"
    )
    tokens.add_argument("--api-token", help="the server's access.token, for /api (default: VOICEBOT_ACCESS__TOKEN)")

    parser = argparse.ArgumentParser(prog="voicebot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", parents=[common], help="run the server")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8080)")
    serve.add_argument("--workers", type=int, help="server processes, each with its own models (default 1)")
    serve.set_defaults(func=cmd_serve)

    crm = sub.add_parser("crm", help="manage the embedded CRM")
    crm_sub = crm.add_subparsers(dest="crm_command", required=True)
    imp = crm_sub.add_parser("import", parents=[common], help="import customers and cases (JSON or CSV)")
    imp.add_argument("file")
    add_customer = crm_sub.add_parser("add-customer", parents=[common], help="add or update a customer")
    add_customer.add_argument("--phone", required=True)
    add_customer.add_argument("--name", required=True)
    add_customer.add_argument("--email")
    add_case = crm_sub.add_parser("add-case", parents=[common], help="add or update a case")
    add_case.add_argument("--phone", required=True, help="the customer's phone")
    add_case.add_argument("--number", required=True)
    add_case.add_argument("--title", required=True)
    add_case.add_argument("--status", default="New")
    crm_sub.add_parser("list", parents=[common], help="list customers and their cases")
    crm.set_defaults(func=cmd_crm)

    from voicebot.caller import PLATFORMS

    call = sub.add_parser("call", parents=[tokens], help="call a running voicebot from the microphone or a WAV file")
    call.add_argument("--url", default="ws://127.0.0.1:8080", help="the server (ws:// or wss:// base URL)")
    call.add_argument("--ani", default="+14155552671", help="your caller number (demo: Jane Doe)")
    call.add_argument("--platform", choices=PLATFORMS, default="twilio", help="media-stream protocol (or Webex BYOVA)")
    call.add_argument("--play", metavar="FILE.wav", help="say this file after the greeting instead of the microphone")
    call.add_argument("--record", metavar="OUT.wav", help="save both sides: caller left, bot right")
    call.add_argument("--dtmf", help="with --play: digits to press after it")
    call.add_argument("--timeout", type=float, default=120.0, help="hang up after this many seconds")
    call.set_defaults(func=cmd_call)

    test_calls = sub.add_parser("test-calls", parents=[tokens], help="place scripted calls and check what the bot did")
    test_calls.add_argument(
        "paths", nargs="+", metavar="SCENARIOS", help="scenario files (YAML) or directories of them"
    )
    test_calls.add_argument("--url", help="a running server (ws:// base URL); default: start one in this process")
    test_calls.add_argument("--concurrency", type=int, default=1, help="calls in progress at once")
    test_calls.add_argument("--junit", metavar="FILE.xml", help="also write the results as JUnit XML")
    test_calls.add_argument("--config", type=Path, help="settings for the in-process server (TOML)")
    test_calls.set_defaults(func=cmd_test_calls)

    bench = sub.add_parser(
        "bench", parents=[tokens], help="reply latency and capacity under concurrent simulated calls"
    )
    bench.add_argument("--calls", default="1", help="concurrent calls; several levels as 1,8,24")
    bench.add_argument("--rounds", type=int, default=1, help="place each level's calls this many times over")
    bench.add_argument("--baseline", action="store_true", help="also run a stock pipecat pipeline, side by side")
    bench.add_argument("--url", help="a running voicebot (ws:// base URL) instead of starting one")
    bench.add_argument("--workers", type=int, default=1, help="server processes for voicebot (serve --workers)")
    bench.add_argument("--stagger", type=float, default=0.5, help="seconds between call arrivals")
    bench.add_argument("--json", metavar="FILE.json", help="write the results as JSON")
    bench.add_argument("--plot", metavar="FILE.png", help="plot latency against concurrency (voicebot[bench])")
    bench.add_argument(
        "--mix",
        choices=["classic", "callers"],
        default="classic",
        help="classic: Jane's three sentences, one voice; callers: short answers, pauses, ten voices, eight customers",
    )
    bench.add_argument("--part", choices=["dev", "test"], default="test", help="turn material for --mix callers")
    bench.add_argument(
        "--keep", metavar="DIR", help="copy each server's log and data directory (its call records) under DIR"
    )
    bench.set_defaults(func=cmd_bench)

    models = sub.add_parser("models", help="speech model files")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    convert = models_sub.add_parser(
        "openai-whisper", help="build an openai-whisper checkpoint from the bundled (or a given) CTranslate2 Whisper"
    )
    convert.add_argument("--source", help="CTranslate2 Whisper directory (default: the bundled tiny.en)")
    convert.add_argument("--out", help="checkpoint file (default: ~/.cache/whisper/tiny.en.pt)")
    models.set_defaults(func=cmd_models)

    purge = sub.add_parser("purge", parents=[common], help="delete call records older than retention.days now")
    purge.add_argument("--days", type=int, help="keep this many days instead of retention.days")
    purge.set_defaults(func=cmd_purge)

    config = sub.add_parser("config", help="configuration")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    config_sub.add_parser("show", parents=[common], help="the effective configuration, secrets masked")
    config.set_defaults(func=cmd_config_show)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:  # every command that reads the settings: one line, like a missing model file
        print(f"voicebot: {exc}", file=sys.stderr)
        return 2
