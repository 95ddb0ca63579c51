#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""A TLS echo server that demands a client certificate, made of Python's
ssl module (OpenSSL underneath): one thread per connection, one context,
so TLS 1.3 tickets resume across connections (socat forks a child per
connection, whose server resumes nothing). Also the backend of make demo.

    tls_echo.py PORT CERT_CHAIN KEY CLIENT_CA [--proxy-v2]

Data containing "RESET-ME" is not echoed: the connection is reset (RST,
no close_notify).

With --proxy-v2 each connection starts with a PROXY protocol v2 header
before the ClientHello (HAProxy's order); its source address is printed,
"proxy src ADDR:PORT", and a connection without one is closed.
"""
import socket
import ssl
import struct
import sys
import threading

PROXY_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        part = sock.recv(n - len(buf))
        if not part:
            raise OSError("closed in the PROXY header")
        buf += part
    return buf


def proxy_v2(sock):
    """Read a PROXY v2 header; print the source it carries."""
    head = read_exact(sock, 16)
    if head[:12] != PROXY_SIG or head[12] >> 4 != 2:
        raise OSError("no PROXY v2 header")
    body = read_exact(sock, struct.unpack("!H", head[14:16])[0])
    if head[13] >> 4 == 1:          # AF_INET
        src = socket.inet_ntop(socket.AF_INET, body[0:4])
        port = struct.unpack("!H", body[8:10])[0]
    elif head[13] >> 4 == 2:        # AF_INET6
        src = socket.inet_ntop(socket.AF_INET6, body[0:16])
        port = struct.unpack("!H", body[32:34])[0]
    else:
        src, port = "?", 0
    print("proxy src %s:%d" % (src, port), flush=True)


def serve(ctx, raw, proxy):
    try:
        if proxy:
            proxy_v2(raw)
        conn = ctx.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
    except (ssl.SSLError, OSError):
        raw.close()
        return
    try:
        conn.do_handshake()
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                if b"RESET-ME" in data:
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                    struct.pack("ii", 1, 0))
                    conn.close()
                    return
                conn.sendall(data)
            try:
                conn.unwrap()
            except (ssl.SSLError, OSError):
                pass
    except (ssl.SSLError, OSError):
        conn.close()


def main():
    port, chain, key, ca = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    proxy = "--proxy-v2" in sys.argv[5:]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(chain, key)
    ctx.load_verify_locations(ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", port))
    lsock.listen(64)
    print("backend ready", flush=True)
    while True:
        raw, _ = lsock.accept()
        threading.Thread(target=serve, args=(ctx, raw, proxy), daemon=True).start()


if __name__ == "__main__":
    main()
