"""Argon2id password hashing (argon2-cffi; by default RFC 9106's low-memory profile).

The cost is configurable (``KOTACERDAS_ARGON2_*``): the test suite lowers it so that creating hundreds
of accounts stays fast, while production keeps the default. Hashes made with another cost still
verify, and are rehashed at the next login (``needs_rehash``).
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10
_hasher = PasswordHasher()
DUMMY_HASH = ""


def configure(*, time_cost: int, memory_kib: int, parallelism: int) -> None:
    global _hasher, DUMMY_HASH
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
    # a real hash of a random password, verified against when the e-mail is unknown, so that a
    # failed login takes as long whether or not the account exists
    DUMMY_HASH = _hasher.hash("unknown-account-timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def dummy_hash() -> str:
    return DUMMY_HASH


configure(time_cost=3, memory_kib=65536, parallelism=4)
