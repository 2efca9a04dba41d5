"""KeyPair and PublicKey: generation, files (0600, no silent overwrite), text forms."""

import stat

import pytest

import agentcap
from agentcap import InvalidKey, KeyFileExists, KeyPair, PublicKey

from conftest import run_cli


def test_save_is_private_and_never_overwrites(tmp_path):
    key = KeyPair.generate()
    path = tmp_path / "agent.key"
    key.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().startswith("ed25519-private/")

    other = KeyPair.generate()
    with pytest.raises(KeyFileExists) as caught:
        other.save(path)
    assert caught.value.reason == "key_file_exists"
    assert KeyPair.load(path).public() == key.public()

    other.save(path, overwrite=True)
    assert KeyPair.load(path).public() == other.public()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_pem_round_trip(tmp_path):
    key = KeyPair.generate()
    path = tmp_path / "root.pem"
    key.save(path, format="pem")
    assert path.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert KeyPair.load(path).public() == key.public()
    with pytest.raises(agentcap.InvalidArgument):
        key.save(tmp_path / "x.key", format="der")


def test_public_key_text_form_matches_the_cli(cli, tmp_path):
    path = tmp_path / "root.key"
    printed = run_cli(cli, "keys", "generate", "--out", str(path)).stdout.strip()
    key = KeyPair.load(path)
    assert str(key.public()) == printed
    assert PublicKey.parse(printed) == key.public()
    assert hash(PublicKey.parse(printed)) == hash(key.public())
    assert len(key.public().to_bytes()) == 32
    # A key saved from Python is one the CLI reads.
    saved = tmp_path / "py.key"
    key2 = KeyPair.generate()
    key2.save(saved)
    shown = run_cli(cli, "keys", "public", "--key-file", str(saved)).stdout.strip()
    assert shown == str(key2.public())


def test_repr_never_shows_the_secret(tmp_path):
    key = KeyPair.generate()
    path = tmp_path / "k.key"
    key.save(path)
    secret_hex = path.read_text().strip().split("/", 1)[1]
    assert secret_hex not in repr(key)
    assert str(key.public()) in repr(key)


@pytest.mark.parametrize(
    "text",
    ["", "ed25519/zz", "ed25519/" + "00" * 31, "rsa/" + "00" * 32, "\x00" * 10],
)
def test_bad_public_keys_raise_invalid_key(text):
    with pytest.raises(InvalidKey) as caught:
        PublicKey.parse(text)
    assert caught.value.reason == "invalid_key"
    assert isinstance(caught.value, agentcap.AgentcapError)


def test_bad_private_keys_raise_invalid_key_without_echoing(tmp_path):
    secretish = "ed25519-private/" + "ab" * 31
    with pytest.raises(InvalidKey) as caught:
        KeyPair.from_text(secretish)
    assert "ab" * 31 not in str(caught.value)
    path = tmp_path / "bad.key"
    path.write_text("not a key")
    with pytest.raises(InvalidKey):
        KeyPair.load(path)
    with pytest.raises(agentcap.FileError):
        KeyPair.load(tmp_path / "missing.key")


def test_key_arguments_are_type_checked():
    with pytest.raises(agentcap.InvalidArgument):
        agentcap.Grant("alice", "a").agent_key(42)
    with pytest.raises(TypeError):
        agentcap.Grant("alice", "a").right("r", "read").mint("not a key")
