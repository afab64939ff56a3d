#!/usr/bin/env python3
"""The flooding source and the sink of benches/sip-flood.sh.

Sends numbered INVITEs (each its own branch, From tag and Call-ID) from one loopback
address to a proxy, at a set rate or as fast as it can, bounded in count and in time. At the
same time it

- counts the distinct flood INVITEs a sink socket receives (the proxy forwarded them: their
  Request-URI user is "flood", which both proxies route to the sink), and answers OPTIONS
  there with 200 (the proxy may probe the sink);
- counts the distinct flood INVITEs the flooding socket hears any response to;
- watches a log file for the line that says the flooding source was banned.

At the end it prints one line of key=value pairs (see `report`). Loopback only: it refuses
any address outside 127.0.0.0/8. Standard library only.
"""

import argparse
import ipaddress
import os
import select
import socket
import sys
import threading
import time

DIGITS = 10
ZERO = b"0" * DIGITS
# Receive-side bound: at most this many datagrams are recorded per socket.
MAX_RECORDED = 4_000_000
# Replies that arrive this long after the ban line was seen count as "after the ban"
# (ones already on their way when the proxy logged it do not).
IN_FLIGHT = 0.2


def loopback(addr, what):
    """`host:port` on 127.0.0.0/8 as a (host, port) pair; exits otherwise."""
    host, _, port = addr.rpartition(":")
    if not ipaddress.ip_address(host) in ipaddress.ip_network("127.0.0.0/8"):
        sys.exit(f"sip-flood.py: {what} {addr} is not on 127.0.0.0/8")
    return host, int(port)


def template(src, proxy):
    """The flood INVITE from `src` to `proxy`, split where its number goes."""
    text = (
        f"INVITE sip:flood@{proxy[0]}:{proxy[1]} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {src[0]}:{src[1]};branch=z9hG4bK-f{ZERO.decode()};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:flood@{src[0]}>;tag=f{ZERO.decode()}\r\n"
        f"To: <sip:flood@{proxy[0]}:{proxy[1]}>\r\n"
        f"Call-ID: flood-{ZERO.decode()}@{src[0]}\r\n"
        "CSeq: 1 INVITE\r\n"
        f"Contact: <sip:flood@{src[0]}:{src[1]}>\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    return text.encode().split(ZERO)


def flood_number(msg):
    """The number in a flood message's Call-ID, or None."""
    at = msg.find(b"Call-ID: flood-")
    if at < 0:
        return None
    digits = msg[at + 15 : at + 15 + DIGITS]
    return int(digits) if digits.isdigit() else None


def options_reply(msg):
    """200 OK to an OPTIONS request (its Via, From, To, Call-ID and CSeq copied)."""
    keep = (b"via:", b"from:", b"to:", b"call-id:", b"cseq:")
    lines = [l for l in msg.split(b"\r\n")[1:] if l.lower().startswith(keep)]
    return b"SIP/2.0 200 OK\r\n" + b"\r\n".join(lines) + b"\r\nContent-Length: 0\r\n\r\n"


class Watch:
    """What the receiving thread saw: first arrival of each flood number per socket, and
    the time the ban line appeared in the log."""

    def __init__(self):
        self.forwarded = {}  # flood number -> first arrival at the sink
        self.replied = {}  # flood number -> first response heard by the flooder
        self.options = 0
        self.banned_at = None
        self.ban_line = ""
        self.stop = threading.Event()


def receive(watch, flooder, sink, log, needle, deadline):
    """Reads both sockets and polls the log until told to stop or `deadline`."""
    offset = os.path.getsize(log) if log and os.path.exists(log) else 0
    next_poll = 0.0
    socks = [s for s in (flooder, sink) if s is not None]
    while not watch.stop.is_set() and time.monotonic() < deadline:
        ready, _, _ = select.select(socks, [], [], 0.02)
        now = time.monotonic()
        for s in ready:
            for _ in range(256):
                try:
                    msg, peer = s.recvfrom(65536, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    break
                if s is sink:
                    if msg.startswith(b"OPTIONS "):
                        watch.options += 1
                        s.sendto(options_reply(msg), peer)
                    elif msg.startswith(b"INVITE ") and len(watch.forwarded) < MAX_RECORDED:
                        k = flood_number(msg)
                        if k is not None:
                            watch.forwarded.setdefault(k, now)
                elif msg.startswith(b"SIP/2.0 ") and len(watch.replied) < MAX_RECORDED:
                    k = flood_number(msg)
                    if k is not None:
                        watch.replied.setdefault(k, now)
        if log and watch.banned_at is None and now >= next_poll:
            next_poll = now + 0.02
            offset = poll_log(watch, log, offset, needle, now)


def poll_log(watch, log, offset, needle, now):
    """Reads the whole lines appended to `log` since `offset`; notes the ban line."""
    try:
        with open(log, "rb") as f:
            f.seek(offset)
            text = f.read(1 << 20)
    except OSError:
        return offset
    whole = text.rfind(b"\n") + 1
    for line in text[:whole].split(b"\n"):
        if needle.encode() in line:
            watch.banned_at = now
            watch.ban_line = line.decode(errors="replace").strip()
            break
    return offset + whole


def send(sock, proxy, parts, rate, secs, count):
    """Sends up to `count` INVITEs for at most `secs` seconds, `rate` a second (0: as fast
    as possible). Returns (sent, start, end, checkpoints of (time, sent) every 10 ms)."""
    start = time.monotonic()
    end = start + secs
    sent = 0
    checkpoints = []
    next_check = start
    while sent < count:
        now = time.monotonic()
        if now >= end:
            break
        if now >= next_check:
            checkpoints.append((now, sent))
            next_check += 0.01
        due = min(count, int(rate * (now - start)) if rate > 0 else sent + 256)
        if sent >= due:
            time.sleep(0.0002)
            continue
        for k in range(sent, min(due, sent + 256)):
            try:
                sock.sendto((b"%010d" % k).join(parts), proxy)
            except (BlockingIOError, ConnectionRefusedError):
                pass  # a full queue or an ICMP error: part of a flood
        sent = min(due, sent + 256)
    return sent, start, time.monotonic(), checkpoints


def sent_after(checkpoints, total, t):
    """Messages sent after time `t`."""
    before = 0
    for at, n in checkpoints:
        if at > t:
            break
        before = n
    return total - before


def report(args, watch, sent, start, end, checkpoints):
    """The key=value line."""
    elapsed = end - start
    w0 = start + max(0.0, elapsed - args.window)
    in_window = sum(1 for t in watch.forwarded.values() if w0 <= t < end)
    wall = time.time() - time.monotonic()
    out = {
        "start_epoch": f"{start + wall:.3f}",
        "end_epoch": f"{end + wall:.3f}",
        "sent": sent,
        "secs": f"{elapsed:.2f}",
        "rate": f"{sent / elapsed:.0f}" if elapsed > 0 else "0",
        "forwarded": len(watch.forwarded),
        "forwarded_rate_last_window": f"{in_window / min(args.window, elapsed):.0f}" if elapsed > 0 else "0",
        "replied": len(watch.replied),
        "sink_options": watch.options,
    }
    if watch.banned_at is None:
        out["banned_after"] = "none"
    else:
        ban = watch.banned_at
        out["banned_after"] = f"{ban - start:.2f}"
        out["sent_after_ban"] = sent_after(checkpoints, sent, ban)
        out["replied_after_ban"] = sum(1 for t in watch.replied.values() if t > ban + IN_FLIGHT)
        out["forwarded_after_ban"] = sum(1 for t in watch.forwarded.values() if t > ban + IN_FLIGHT)
    line = " ".join(f"{k}={v}" for k, v in out.items())
    if watch.ban_line:
        line += "\nban_line=" + watch.ban_line
    return line


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", required=True, help="flooding address, e.g. 127.0.0.2")
    p.add_argument("--proxy", required=True, help="host:port of the proxy")
    p.add_argument("--sink", help="host:port to bind the sink to")
    p.add_argument("--rate", type=float, default=0, help="INVITEs a second (0: as fast as possible)")
    p.add_argument("--secs", type=float, required=True, help="flood duration (at most 120 s)")
    p.add_argument("--count", type=int, required=True, help="at most this many INVITEs")
    p.add_argument("--delay", type=float, default=0, help="seconds to wait before flooding")
    p.add_argument("--linger", type=float, default=3, help="seconds to keep counting after")
    p.add_argument("--window", type=float, default=1, help="capacity window at the end (s)")
    p.add_argument("--log", help="the proxy's log file to watch")
    p.add_argument("--needle", default="", help="text of the ban line")
    p.add_argument("--ready", help="file to create once the sockets are bound")
    args = p.parse_args()
    if not 0 < args.secs <= 120 or not 0 <= args.linger <= 60 or not 0 <= args.delay <= 60:
        sys.exit("sip-flood.py: --secs must be in (0, 120], --linger and --delay in [0, 60]")
    if args.count <= 0 or args.rate < 0:
        sys.exit("sip-flood.py: --count must be positive and --rate not negative")
    proxy = loopback(args.proxy, "proxy")
    loopback(args.source + ":0", "source")
    flooder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    flooder.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    flooder.bind((args.source, 0))
    sink = None
    if args.sink:
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        sink.bind(loopback(args.sink, "sink"))
    if args.ready:
        open(args.ready, "w").close()
    watch = Watch()
    deadline = time.monotonic() + args.delay + args.secs + args.linger + 5
    thread = threading.Thread(
        target=receive, args=(watch, flooder, sink, args.log, args.needle, deadline), daemon=True
    )
    thread.start()
    time.sleep(args.delay)
    parts = template(flooder.getsockname(), proxy)
    sent, start, end, checkpoints = send(flooder, proxy, parts, args.rate, args.secs, args.count)
    time.sleep(args.linger)
    watch.stop.set()
    thread.join(timeout=5)
    print(report(args, watch, sent, start, end, checkpoints), flush=True)


if __name__ == "__main__":
    main()
