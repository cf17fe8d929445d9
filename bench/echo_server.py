#!/usr/bin/env python3
"""Reference framed echo server (asyncio, stdlib only).

Each frame is a big-endian length header (2 bytes, or 4 with --header 4)
followed by that many bytes; every complete frame is sent back unchanged.
It is the yardstick for bench/gate_load.c and a baseline to compare the
Shoal gate against.

  bench/echo_server.py [--host 127.0.0.1] [--port 0] [--header 2|4]
                       [--max-frame N] [--corrupt] [--corrupt-every K]

--port 0 picks a free port. The chosen port is printed on stdout as
"LISTEN <port>" (then flushed) once the server accepts connections, so a
test can start the server and read the port from it.
--max-frame N closes a connection whose frame header announces more than
N bytes, like the gate does with oversized frames.
--corrupt flips one payload byte in every echoed frame (every K-th frame
with --corrupt-every K), to check that a client notices.
"""
import argparse
import asyncio
import sys


class Echo(asyncio.Protocol):
    """One connection: split the byte stream into frames and echo them."""

    def __init__(self, opts, stats):
        self.opts = opts
        self.stats = stats
        self.buf = bytearray()
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        self.stats["conns"] += 1

    def connection_lost(self, exc):
        self.stats["conns"] -= 1

    def data_received(self, data):
        self.buf += data
        hdr = self.opts.header
        out = []
        pos = 0
        buf = self.buf
        while len(buf) - pos >= hdr:
            size = int.from_bytes(buf[pos:pos + hdr], "big")
            if self.opts.max_frame is not None and size > self.opts.max_frame:
                print(f"echo_server: frame of {size} bytes, closing", file=sys.stderr)
                self.transport.abort()
                return
            end = pos + hdr + size
            if len(buf) < end:
                break
            frame = buf[pos:end]
            self.stats["frames"] += 1
            if self.opts.corrupt and size > 0 and self.stats["frames"] % self.opts.corrupt_every == 0:
                frame[hdr + size // 2] ^= 0xFF
            out.append(frame)
            pos = end
        if pos:
            del buf[:pos]
        if out:
            self.transport.write(b"".join(out))


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--header", type=int, choices=(2, 4), default=2)
    ap.add_argument("--max-frame", type=int, default=None)
    ap.add_argument("--corrupt", action="store_true")
    ap.add_argument("--corrupt-every", type=int, default=1)
    ap.add_argument("--backlog", type=int, default=4096,
                    help="listen backlog; large so 1000 simultaneous connects are not dropped")
    opts = ap.parse_args()
    if opts.corrupt_every < 1:
        ap.error("--corrupt-every must be >= 1")
    stats = {"conns": 0, "frames": 0}
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Echo(opts, stats), opts.host, opts.port,
                                      backlog=opts.backlog, reuse_address=True)
    port = server.sockets[0].getsockname()[1]
    print(f"LISTEN {port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
