#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""Full mutual-TLS handshakes with Python's ssl module (OpenSSL underneath,
none of our code), for a number of seconds: THREADS threads, each cycling
through its share of the client certificates, one certificate per
connection (connect, handshake with SNI, close; with fewer certificates
than threads, every thread uses all of them). With more certificates
than the gateway keeps parsed, most handshakes bring a leaf it has not
seen lately. Prints one JSON object as mtls-load --json does: ops,
ops_per_s, duration_s, failed, cpu_s (this process's own).

    pyhandshakes.py HOST:PORT SNI SECONDS CA THREADS CHAIN:KEY [CHAIN:KEY ...]
"""
import json
import resource
import socket
import ssl
import sys
import threading
import time


def context(ca, chain, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    ctx.check_hostname = False  # a route's name need not be on the certificate
    ctx.load_cert_chain(chain, key)
    return ctx


def client(addr, sni, deadline, ctxs, counts, lock):
    ok = failed = i = 0
    while time.monotonic() < deadline:
        ctx = ctxs[i % len(ctxs)]
        i += 1
        try:
            with socket.create_connection(addr, timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname=sni):
                    pass
            ok += 1
        except (OSError, ssl.SSLError):
            failed += 1
    with lock:
        counts["ok"] += ok
        counts["failed"] += failed


def main():
    if len(sys.argv) < 7:
        print(__doc__, file=sys.stderr)
        return 2
    host, port = sys.argv[1].rsplit(":", 1)
    sni, seconds, ca, nthreads = sys.argv[2], float(sys.argv[3]), sys.argv[4], int(sys.argv[5])
    pairs = [p.split(":", 1) for p in sys.argv[6:]]
    nthreads = max(1, nthreads)
    ctxs = [context(ca, c, k) for c, k in pairs]
    # Each thread its share of the certificates; with fewer certificates
    # than threads, each thread all of them.
    shares = [ctxs[t::nthreads] if len(ctxs) >= nthreads else ctxs for t in range(nthreads)]
    counts = {"ok": 0, "failed": 0}
    lock = threading.Lock()
    start = time.monotonic()
    deadline = start + seconds
    threads = [threading.Thread(target=client, args=((host, int(port)), sni, deadline, share,
                                                     counts, lock)) for share in shares]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - start
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"mode": "handshake", "client": "python-ssl", "ops": counts["ok"],
                      "failed": counts["failed"], "duration_s": took,
                      "ops_per_s": counts["ok"] / took if took else 0,
                      "certificates": len(pairs),
                      "cpu_s": {"user": ru.ru_utime, "sys": ru.ru_stime}}))
    return 0 if counts["ok"] and not counts["failed"] else 1


if __name__ == "__main__":
    sys.exit(main())
