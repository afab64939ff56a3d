"""The service manager's end of sd_notify(3) for tests/run-deb.sh: binds an AF_UNIX datagram
socket at the path given, lets any user send to it, and prints every KEY=VALUE line it receives
(one datagram after another) until STOPPING=1 arrives or 60 seconds pass."""
import os
import socket
import sys
import time

path = sys.argv[1]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(path)
os.chmod(path, 0o666)  # the daemon runs as the ferrovox user
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    sock.settimeout(max(0.1, deadline - time.monotonic()))
    try:
        data = sock.recv(4096)
    except socket.timeout:
        break
    lines = data.decode("utf-8", "replace").split("\n")
    print("\n".join(lines), flush=True)
    if "STOPPING=1" in lines:
        break
