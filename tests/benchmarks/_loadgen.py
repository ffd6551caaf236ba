"""Load for the embedded scenario, from its own process (never the measured loop).

``python -m tests.benchmarks._loadgen URL RATE_HZ`` sends ``GET URL`` on one
keep-alive connection at a steady rate, prints ``ready`` once warm, clears its
samples on a ``start`` line and, on ``stop``, prints the latencies (ms) as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time

import aiohttp

from ._measure import pin


async def run(url: str, rate_hz: float) -> None:
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[str] = asyncio.Queue()

    def read() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(commands.put_nowait, line.strip())
        loop.call_soon_threadsafe(commands.put_nowait, "stop")

    threading.Thread(target=read, daemon=True).start()
    samples: list[float] = []
    interval = 1.0 / rate_hz
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(20):  # warm the connection
            async with session.get(url) as response:
                await response.read()
        print("ready", flush=True)
        next_at = time.perf_counter()
        while True:
            while not commands.empty():
                command = commands.get_nowait()
                if command == "start":
                    samples.clear()
                elif command == "stop":
                    print(json.dumps(samples), flush=True)
                    return
            start = time.perf_counter()
            async with session.get(url) as response:
                await response.read()
            samples.append((time.perf_counter() - start) * 1000)
            next_at = max(next_at + interval, time.perf_counter())
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))


def main() -> None:
    pin(int(sys.argv[3]) if len(sys.argv) > 3 else None)
    asyncio.run(run(sys.argv[1], float(sys.argv[2])))


if __name__ == "__main__":
    main()
