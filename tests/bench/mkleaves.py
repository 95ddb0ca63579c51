#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""mkleaves.py PKI DIR N [ISSUER]: N client certificates no gateway has
seen, for the benchmarks' outside clients. DIR/leaf-I-chain.pem holds the
leaf and the issuing and intermediate CAs of PKI (a tools/mkpki output),
its P-256 key DIR/leaf-I.key; each leaf has its own key, serial, CN and
SPIFFE ID (spiffe://corp.test/prod/bench-I), valid for two days,
clientAuth, as a fleet of distinct callers would bring them. ISSUER
"root-ca" has the root sign them instead of the issuing CA (the default,
"issuing-ca"): a leaf that needs no intermediate, for a client that
cannot send one (openssl s_time). Prints "CHAIN:KEY" per leaf, one per
line. Uses python3-cryptography (Debian's package), not our code.
"""
import datetime
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def main():
    if len(sys.argv) not in (4, 5) or (len(sys.argv) == 5 and
                                       sys.argv[4] not in ("issuing-ca", "root-ca")):
        print(__doc__, file=sys.stderr)
        return 2
    pki, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    issuer = sys.argv[4] if len(sys.argv) == 5 else "issuing-ca"
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(pki, issuer + ".crt"), "rb") as f:
        ca = x509.load_pem_x509_certificate(f.read())
    with open(os.path.join(pki, "ca", issuer, "private", issuer + ".key"), "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), None)
    chain = b""  # under the root, the leaf alone
    if issuer == "issuing-ca":
        with open(os.path.join(pki, "ca/issuing-ca/chain.pem"), "rb") as f:
            chain = f.read()
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    for i in range(n):
        key = ec.generate_private_key(ec.SECP256R1())
        key_path = os.path.join(out, "leaf-%d.key" % i)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Corp"),
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "prod"),
                    x509.NameAttribute(NameOID.COMMON_NAME, "bench-%d" % i)]))
                .issuer_name(ca.subject)
                .public_key(key.public_key())
                .serial_number(0x7e000000 + i)
                .not_valid_before(now)
                .not_valid_after(now + datetime.timedelta(days=2))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(True, False, False, False, False, False, False,
                                             False, False), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                               critical=False)
                .add_extension(x509.SubjectAlternativeName([
                    x509.UniformResourceIdentifier("spiffe://corp.test/prod/bench-%d" % i)]),
                    critical=False)
                .sign(ca_key, hashes.SHA256()))
        path = os.path.join(out, "leaf-%d-chain.pem" % i)
        with open(path, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM) + chain)
        print("%s:%s" % (path, key_path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
