#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""A TLS echo server that demands a client certificate, made of Python's
ssl module (OpenSSL underneath): one thread per connection, one context,
so TLS 1.3 tickets resume across connections (socat forks a child per
connection, whose server resumes nothing). Also the backend of make demo.

    tls_echo.py PORT CERT_CHAIN KEY CLIENT_CA
"""
import socket
import ssl
import sys
import threading


def serve(conn):
    try:
        conn.do_handshake()
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                conn.sendall(data)
            try:
                conn.unwrap()
            except (ssl.SSLError, OSError):
                pass
    except (ssl.SSLError, OSError):
        conn.close()


def main():
    port, chain, key, ca = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
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
        conn = ctx.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
