"""Forward a port on the host's loopback to a port on the local-stage container's loopback.

The bot's health server (dashboard, /slo, /metrics) listens on 127.0.0.1:8710 inside the
container only, as on a real host, and stays there. For the demo this forwarder listens on the
host's 127.0.0.1 and, for each connection, opens a socket in the container's network namespace
(setns(2) on /proc/PID/ns/net, in one helper thread) connected to the container's loopback, then
copies bytes both ways. So http://127.0.0.1:PORT/dashboard opens in a browser on the host. It needs
root (like podman here), exits when the container's process is gone, and is started by
`scripts/local-stage.sh up` and stopped by `down`. Standard library only.

    python3 scripts/dashboard_forward.py --pid CONTAINER_PID --port-file FILE
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import ctypes
import errno
import os
import signal
import socket
import sys
from pathlib import Path

CLONE_NEWNET = 0x40000000
CHUNK = 64 * 1024


def enter_netns(path: str) -> None:
    """Move the calling thread into the network namespace at ``path``."""
    fd = os.open(path, os.O_RDONLY)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"setns({path}): {os.strerror(code)} (run as root)")
    finally:
        os.close(fd)


def container_socket() -> socket.socket:
    """A TCP socket in the helper thread's (the container's) network namespace."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    return sock


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        writer.close()


class Forwarder:
    def __init__(self, pid: int, target_port: int) -> None:
        self.pid = pid
        self.target_port = target_port
        # One thread that lives in the container's namespace and only makes sockets there.
        self.netns = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, initializer=enter_netns, initargs=(f"/proc/{pid}/ns/net",))

    async def open_target(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        loop = asyncio.get_running_loop()
        sock = await loop.run_in_executor(self.netns, container_socket)
        try:
            await loop.sock_connect(sock, ("127.0.0.1", self.target_port))
        except OSError:
            sock.close()
            raise
        return await asyncio.open_connection(sock=sock)

    async def handle(self, client_r: asyncio.StreamReader,
                     client_w: asyncio.StreamWriter) -> None:
        try:
            target_r, target_w = await self.open_target()
        except OSError as exc:
            print(f"dashboard-forward: 127.0.0.1:{self.target_port} in the container: {exc}",
                  file=sys.stderr, flush=True)
            client_w.close()
            return
        try:
            await asyncio.gather(pipe(client_r, target_w), pipe(target_r, client_w))
        finally:
            for writer in (target_w, client_w):
                writer.close()

    async def container_gone(self) -> None:
        while True:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return
            await asyncio.sleep(2.0)


async def serve(args: argparse.Namespace) -> int:
    forwarder = Forwarder(args.pid, args.target_port)
    # Fail now, with the reason, rather than on the first browser request.
    try:
        await asyncio.get_running_loop().run_in_executor(forwarder.netns, container_socket)
    except OSError as exc:
        print(f"dashboard-forward: cannot enter the container's network: {exc}",
              file=sys.stderr)
        return 1
    try:
        server = await asyncio.start_server(forwarder.handle, "127.0.0.1", args.listen_port)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        print(f"dashboard-forward: 127.0.0.1:{args.listen_port} is taken; using a free port",
              file=sys.stderr)
        server = await asyncio.start_server(forwarder.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    tmp = args.port_file.with_suffix(".tmp")
    tmp.write_text(f"{port}\n")
    tmp.replace(args.port_file)
    print(f"dashboard-forward: 127.0.0.1:{port} -> container pid {args.pid} "
          f"127.0.0.1:{args.target_port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    gone = asyncio.create_task(forwarder.container_gone())
    stopped = asyncio.create_task(stop.wait())
    async with server:
        await asyncio.wait({gone, stopped}, return_when=asyncio.FIRST_COMPLETED)
    why = " (the container is gone)" if gone.done() else ""
    for task in (gone, stopped):
        task.cancel()
    with contextlib.suppress(FileNotFoundError):
        args.port_file.unlink()
    forwarder.netns.shutdown(wait=False)
    print(f"dashboard-forward: stopped{why}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pid", type=int, required=True,
                        help="a process in the container (podman inspect -f '{{.State.Pid}}')")
    parser.add_argument("--listen-port", type=int, default=8710,
                        help="port on the host's 127.0.0.1 (a free one if taken)")
    parser.add_argument("--target-port", type=int, default=8710,
                        help="port on the container's 127.0.0.1 (the bot's health server)")
    parser.add_argument("--port-file", type=Path, required=True,
                        help="written with the listening port once it listens")
    return asyncio.run(serve(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
