"""Password rules and hashing."""

import pytest
from argon2 import PasswordHasher

from portal.core.passwords import (
    generate_password,
    hash_password,
    password_problem,
    verify_password,
)


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short7!", "at least 8"),
        ("x" * 129, "at most 128"),
        ("password1", "too common"),
        ("qwertyuiop", "too common"),
        ("aaaaaaaaaaaa", "too common"),
        ("ada@example.com", "must not be your name"),
    ],
)
def test_unacceptable_passwords(password, problem):
    assert problem in password_problem(password, user_inputs=("ada@example.com",))


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple",
        "Sturdy-horse-42",
        "ünïcödé-pässwörd",
        ("correct-horse-" * 10)[:128],
    ],
)
def test_acceptable_passwords(password):
    assert password_problem(password) is None


def test_generated_passwords_pass_the_rules_and_differ():
    generated = {generate_password() for _ in range(50)}
    assert len(generated) == 50
    assert all(password_problem(p) is None for p in generated)


async def test_argon2id_verify_and_rehash_when_parameters_change():
    stored = await hash_password("Sturdy-horse-42")
    assert stored.startswith("$argon2id$")
    assert await verify_password(stored, "Sturdy-horse-42") == (True, None)
    assert await verify_password(stored, "wrong") == (False, None)
    assert await verify_password(None, "anything") == (False, None)
    assert await verify_password("not-a-hash", "anything") == (False, None)

    weaker = PasswordHasher(time_cost=1, memory_cost=512, parallelism=1).hash("Sturdy-horse-42")
    ok, new_hash = await verify_password(weaker, "Sturdy-horse-42")
    assert ok and new_hash and new_hash != weaker and new_hash.startswith("$argon2id$")
