#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""Full mutual-TLS handshakes with Python's ssl module (OpenSSL underneath,
none of our code): one thread per client certificate, each connecting,
handshaking with SNI, sending a 64-byte request and closing, for a number
of seconds. Prints one JSON object: handshakes done and failed.

    pyhandshakes.py HOST:PORT SNI SECONDS CA CHAIN:KEY [CHAIN:KEY ...]
"""
import json
import socket
import ssl
import sys
import threading
import time


def client(addr, sni, deadline, ca, chain, key, counts, lock):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    ctx.check_hostname = False  # the routes' names are not on the bench certificate
    ctx.load_cert_chain(chain, key)
    ok = failed = 0
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(addr, timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname=sni) as tls:
                    tls.sendall(b"x" * 64)
            ok += 1
        except (OSError, ssl.SSLError):
            failed += 1
    with lock:
        counts["ok"] += ok
        counts["failed"] += failed


def main():
    if len(sys.argv) < 6:
        print(__doc__, file=sys.stderr)
        return 2
    host, port = sys.argv[1].rsplit(":", 1)
    sni, seconds, ca = sys.argv[2], float(sys.argv[3]), sys.argv[4]
    deadline = time.monotonic() + seconds
    counts = {"ok": 0, "failed": 0}
    lock = threading.Lock()
    threads = []
    for pair in sys.argv[5:]:
        chain, key = pair.split(":", 1)
        t = threading.Thread(target=client, args=((host, int(port)), sni, deadline, ca,
                                                  chain, key, counts, lock))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    print(json.dumps({"handshakes": counts["ok"], "failed": counts["failed"],
                      "identities": len(threads)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
