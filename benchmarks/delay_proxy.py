#!/usr/bin/env python3
"""A loopback TCP proxy that delays every byte by a fixed one-way latency, in both directions.

Loopback answers in microseconds; a real bucket is a round trip of 10-100 ms away. Put this in
front of moto to see how an uploader behaves when each request waits on the network: the
delay is added to data in flight, not to throughput (chunks are forwarded in order, each one
`delay` after it arrived), so a client that keeps many requests in flight pays it once per
batch and a client that waits for each answer pays it on every request.

    benchmarks/delay_proxy.py LISTEN_PORT UPSTREAM_PORT DELAY_MS

It prints "ready" once it listens and runs until killed.
"""
import asyncio
import sys
import time


async def pump(reader, writer, delay):
    """Copies reader to writer, each chunk delivered `delay` seconds after it was read."""
    queue = asyncio.Queue(maxsize=256)  # bounded: a slow side slows the other down

    async def deliver():
        while True:
            due, chunk = await queue.get()
            if chunk is None:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(chunk)
            await writer.drain()

    delivery = asyncio.create_task(deliver())
    try:
        while chunk := await reader.read(256 * 1024):
            await queue.put((time.monotonic() + delay, chunk))
    except ConnectionError:
        pass
    await queue.put((0, None))
    try:
        await delivery
        writer.write_eof()
    except (ConnectionError, OSError):
        pass


async def serve(listen_port, upstream_port, delay):
    async def handle(client_reader, client_writer):
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            pump(client_reader, upstream_writer, delay),
            pump(upstream_reader, client_writer, delay),
        )
        for writer in (client_writer, upstream_writer):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port, backlog=512)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    listen, upstream, delay_ms = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    asyncio.run(serve(listen, upstream, delay_ms / 1000))
