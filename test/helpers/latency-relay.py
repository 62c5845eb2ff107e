#!/usr/bin/env python3
"""Latency for the LAN test harness, where the kernel has no `tc netem`.

Opens two TAP devices and copies every Ethernet frame from one to the other after a fixed delay,
in both directions, so that the two bridges the TAPs are attached to form one L2 segment (mDNS
multicast and ARP pass) with `delay_ms` added one way. Frames keep their order; a direction that
holds more than `max_queue_bytes` drops new frames (like a router's full buffer).

Usage: latency-relay.py TAP_A TAP_B DELAY_MS [MAX_QUEUE_BYTES]

Prints "ready" once both devices exist (they are not persistent: they vanish when this process
ends). Exits when its standard input closes (the test process died) or on SIGTERM/SIGINT.
Standard library only; needs CAP_NET_ADMIN (root) and /dev/net/tun.
"""
import collections
import errno
import fcntl
import os
import select
import signal
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
FRAME_MAX = 65536
READS_PER_WAKE = 256


def open_tap(name: str) -> int:
    fd = os.open('/dev/net/tun', os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack('16sH', name.encode(), IFF_TAP | IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    return fd


def main() -> int:
    if len(sys.argv) not in (4, 5):
        print(__doc__, file=sys.stderr)
        return 64
    name_a, name_b = sys.argv[1], sys.argv[2]
    delay = float(sys.argv[3]) / 1000.0
    max_queue = int(sys.argv[4]) if len(sys.argv) == 5 else 8 * 1024 * 1024

    stop = False

    def on_signal(_signum, _frame):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    fd_a = open_tap(name_a)
    fd_b = open_tap(name_b)
    # Per direction: the frames waiting (due time, frame) and the bytes they hold.
    queues = {fd_a: collections.deque(), fd_b: collections.deque()}
    queued = {fd_a: 0, fd_b: 0}
    peer = {fd_a: fd_b, fd_b: fd_a}
    stats = {'forwarded': 0, 'dropped': 0}
    stdin = sys.stdin.fileno()
    os.set_blocking(stdin, False)

    print('ready', flush=True)

    while not stop:
        now = time.monotonic()
        timeout = None
        for q in queues.values():
            if q:
                wait = q[0][0] - now
                timeout = wait if timeout is None else min(timeout, wait)
        if timeout is not None and timeout < 0:
            timeout = 0
        try:
            readable, _, _ = select.select([fd_a, fd_b, stdin], [], [], timeout)
        except InterruptedError:
            continue
        now = time.monotonic()
        for fd in readable:
            if fd == stdin:
                try:
                    if os.read(stdin, 4096) == b'':
                        stop = True
                except BlockingIOError:
                    pass
                continue
            out = peer[fd]
            for _ in range(READS_PER_WAKE):
                try:
                    frame = os.read(fd, FRAME_MAX)
                except BlockingIOError:
                    break
                except OSError as e:
                    if e.errno in (errno.EAGAIN, errno.EINTR):
                        break
                    raise
                if queued[out] + len(frame) > max_queue:
                    stats['dropped'] += 1
                    continue
                queues[out].append((now + delay, frame))
                queued[out] += len(frame)
        now = time.monotonic()
        for out, q in queues.items():
            while q and q[0][0] <= now:
                _, frame = q.popleft()
                queued[out] -= len(frame)
                try:
                    os.write(out, frame)
                    stats['forwarded'] += 1
                except OSError:
                    # A device that is down or a full backlog: the frame is lost, as on a wire.
                    stats['dropped'] += 1

    print(f"stopped: forwarded={stats['forwarded']} dropped={stats['dropped']}", file=sys.stderr, flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
