"""``python -m voicebot.caller``: place one call from a WAV file, as a chosen platform would."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from voicebot.caller import caller_for, read_wav_8k
from voicebot.caller.wires import WIRES


async def _main(args: argparse.Namespace) -> None:
    async with caller_for(args.platform, args.url, caller=args.ani) as call:
        await call.wait_for_prompts(1, timeout=15)
        greeted = call.prompts[0].first_audio_at or call.started_at
        print(f"bot greeted after {greeted - call.started_at:.2f}s")
        if args.play:
            await call.say(read_wav_8k(Path(args.play)))
        for digit in args.dtmf or "":
            await call.press(digit)
        try:
            await call.wait_closed(timeout=args.timeout)
        except TimeoutError:
            await call.hang_up()
        print(f"bot prompts: {len(call.prompts)}; call closed (code {call.close_code}); call id {call.call_sid}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Call voicebot the way a phone platform's media stream would.")
    parser.add_argument("--url", default="ws://127.0.0.1:8080", help="server base URL (or the full stream URL)")
    parser.add_argument("--platform", choices=sorted(WIRES), default="twilio")
    parser.add_argument("--ani", default="+14155552671", help="caller number (demo: Jane Doe)")
    parser.add_argument("--play", help="WAV file to say after the greeting")
    parser.add_argument("--dtmf", help="digits to press after the greeting (e.g. 2)")
    parser.add_argument("--timeout", type=float, default=30.0)
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
