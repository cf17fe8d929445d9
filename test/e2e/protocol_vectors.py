"""protocol_vectors - the worked examples of docs/protocol.md section 7.

    python3 test/e2e/protocol_vectors.py          # prints the section's text

Fixed inputs (no randomness), computed with loginbot.py's code (the
client side, written from the document). test/lua/test_login_lib.lua holds
the same hex and checks that the server's code (lualib/game/login.lua,
proto.lua, shoal.crypto) produces exactly these bytes.
"""

import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey  # noqa: E402
from loginbot import Sealer, login_keys, msg, resume_keys, resume_msg, resume_proof, resume_secret, s2, x25519_public  # noqa: E402,E501
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey  # noqa: E402

STATIC = bytes.fromhex("a8abababababababababababababababababababababababababababababab6b")
CLIENT_EPH = bytes(range(1, 33))
SERVER_EPH = bytes(range(0x21, 0x41))
NONCE = bytes(range(0x41, 0x51))


def frame(body):
    return struct.pack(">H", len(body)) + body


def vectors():
    sp = X25519PrivateKey.from_private_bytes(STATIC)
    cp = X25519PrivateKey.from_private_bytes(CLIENT_EPH)
    ep = X25519PrivateKey.from_private_bytes(SERVER_EPH)
    SP, EC, ES = x25519_public(sp), x25519_public(cp), x25519_public(ep)
    dh1 = cp.exchange(X25519PublicKey.from_public_bytes(SP))
    dh2 = cp.exchange(X25519PublicKey.from_public_bytes(ES))
    c2s, s2c = login_keys(cp, SP, ES, NONCE)
    hello = msg("HELLO", struct.pack(">H", 1) + EC)
    welcome = msg("WELCOME", struct.pack(">H", 1) + ES + NONCE)
    login = msg("LOGIN", s2("alice") + s2("secret123"))
    sealed_login = Sealer(c2s).seal(login)
    error = msg("ERROR", struct.pack(">HII", 9, 0, 0) + s2("wrong password"))
    sealed_error = Sealer(s2c).seal(error)
    game_c2s = bytes([0x11]) * 32
    ping = msg("PING", struct.pack(">I", 7))
    return [
        ("static private key (login_static_key)", STATIC),
        ("static public key SP (pinned by clients)", SP),
        ("client ephemeral private ec", CLIENT_EPH),
        ("client ephemeral public EC", EC),
        ("server ephemeral private es", SERVER_EPH),
        ("server ephemeral public ES", ES),
        ("server nonce N", NONCE),
        ("HELLO frame (length, id, version, EC)", frame(hello)),
        ("WELCOME frame", frame(welcome)),
        ("dh1 = X25519(ec, SP)", dh1),
        ("dh2 = X25519(ec, ES)", dh2),
        ("c2s", c2s),
        ("s2c", s2c),
        ("LOGIN(\"alice\", \"secret123\") message", login),
        ("its frame, sealed with c2s, SEQ 0", frame(sealed_login)),
        ("ERROR(WRONG_PASSWORD, 0, 0, \"wrong password\") message", error),
        ("its frame, sealed with s2c, SEQ 0", frame(sealed_error)),
        ("a game key game_c2s_key (example)", game_c2s),
        ("PING(7) message", ping),
        ("its frame, sealed with that key, SEQ 0", frame(Sealer(game_c2s).seal(ping))),
    ] + resume_vectors(game_c2s)


def resume_vectors(game_c2s):
    """Section 6.1: the resume secret, a RESUME and the resumed keys."""
    game_s2c = bytes([0x22]) * 32
    secret = resume_secret(game_c2s, game_s2c)
    nonce = bytes(range(0x51, 0x61))
    ticket = bytes([0xAA]) * 16  # opaque to the client: any bytes the server sent in TICKET
    c2s, s2c = resume_keys(secret, nonce)
    return [
        ("a game key game_s2c_key (example)", game_s2c),
        ("R = HKDF(game_c2s_key | game_s2c_key, \"\", \"shoal resume secret v1\", 32)", secret),
        ("client_nonce", nonce),
        ("proof for account 42", resume_proof(secret, 42, nonce)),
        ("RESUME(1, 42, ticket aa x 16, client_nonce, proof) frame", frame(resume_msg(42, ticket, nonce, secret))),
        ("resumed c2s", c2s),
        ("resumed s2c", s2c),
    ]


def main():
    for name, value in vectors():
        print("%s:" % name)
        h = value.hex()
        for i in range(0, len(h), 64):
            print("    " + h[i:i + 64])


if __name__ == "__main__":
    main()
