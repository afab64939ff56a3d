"""RTP media endpoint for the network-namespace end-to-end tests.

Run inside a namespace (`ip netns exec NS python3 rtp_endpoint.py ...`). For every --flow it
binds one UDP socket on --bind:LPORT, sends --count RTP packets (RFC 3550 section 5.1:
version 2, payload type 0, the flow's SSRC, sequence numbers 1..count) to the relay endpoint
RIP:RPORT, and checks every datagram that arrives: it must come from RIP:RPORT (the relay
sends from the port this side sends to), carry the expected SSRC and exactly the payload the
other side built for that sequence number. It prints `ready` once every socket is bound,
waits for the --go file, and at the end prints one `flow ...` line per flow. Every wait is
bounded by --limit seconds.
"""

import argparse
import os
import select
import socket
import struct
import sys
import time


def payload(ssrc, seq, size):
    """The payload both sides agree on for (ssrc, seq): no two packets carry the same one."""
    seed = (ssrc * 2654435761 + seq * 40503) & 0xFFFFFFFF
    key = seed.to_bytes(4, "big")
    return bytes((key[i % 4] + i) & 0xFF for i in range(size))


def packet(ssrc, seq, size):
    header = struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF, ssrc)
    return header + payload(ssrc, seq, size)


class Flow:
    def __init__(self, spec, bind, size):
        lport, rip, rport, tx_ssrc, rx_ssrc = spec.split(",")
        self.lport = int(lport)
        self.relay = (rip, int(rport))
        self.tx_ssrc = int(tx_ssrc, 0)
        self.rx_ssrc = int(rx_ssrc, 0)
        self.size = size
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind((bind, self.lport))
        self.sock.setblocking(False)
        self.sent = 0
        self.received = 0
        self.seqs = set()
        self.bad_source = 0
        self.bad_ssrc = 0
        self.bad_payload = 0

    def send(self, seq):
        try:
            self.sock.sendto(packet(self.tx_ssrc, seq, self.size), self.relay)
            self.sent += 1
        except OSError:
            pass

    def drain(self):
        while True:
            try:
                data, src = self.sock.recvfrom(4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                # An ICMP error for an earlier send: not a datagram.
                continue
            self.received += 1
            if src != self.relay:
                self.bad_source += 1
                continue
            if len(data) < 12 or data[0] != 0x80 or data[1] & 0x7F != 0:
                self.bad_payload += 1
                continue
            seq, _ts, ssrc = struct.unpack("!HII", data[2:12])
            if ssrc != self.rx_ssrc:
                self.bad_ssrc += 1
            elif data[12:] != payload(ssrc, seq, self.size):
                self.bad_payload += 1
            else:
                self.seqs.add(seq)

    def report(self):
        return (
            f"flow {self.lport} sent {self.sent} received {self.received} "
            f"good {len(self.seqs)} bad_source {self.bad_source} "
            f"bad_ssrc {self.bad_ssrc} bad_payload {self.bad_payload}"
        )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bind", required=True)
    ap.add_argument("--flow", action="append", required=True)
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--expect", type=int, default=0)
    ap.add_argument("--interval-ms", type=float, default=20.0)
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--go", required=True)
    ap.add_argument("--linger", type=float, default=2.0)
    ap.add_argument("--limit", type=float, default=20.0)
    a = ap.parse_args()
    flows = [Flow(spec, a.bind, a.size) for spec in a.flow]
    socks = [f.sock for f in flows]
    print("ready", flush=True)
    end = time.monotonic() + a.limit
    while not os.path.exists(a.go):
        if time.monotonic() > end:
            print("error: no go signal", flush=True)
            return 2
        time.sleep(0.005)
    start = time.monotonic()
    interval = a.interval_ms / 1000.0
    for seq in range(1, a.count + 1):
        due = start + (seq - 1) * interval
        while True:
            left = due - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select(socks, [], [], left)
            for f in flows:
                if f.sock in ready:
                    f.drain()
        for f in flows:
            f.send(seq)
    stop = min(time.monotonic() + a.linger, end)
    while time.monotonic() < stop:
        if a.expect and all(len(f.seqs) >= a.expect for f in flows):
            break
        ready, _, _ = select.select(socks, [], [], max(0.0, min(0.05, stop - time.monotonic())))
        for f in flows:
            if f.sock in ready:
                f.drain()
    for f in flows:
        f.drain()
        print(f.report(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
