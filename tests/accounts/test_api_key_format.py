import math

from accounts import apikeys


def test_generated_keys_have_prefix_body_and_checksum():
    new = apikeys.generate()
    assert new.secret.startswith("mcp_")
    assert len(new.secret) == apikeys.KEY_LENGTH == 4 + 43 + 6
    assert apikeys.is_well_formed(new.secret)
    assert new.identifier == new.secret[:12]
    assert new.digest == apikeys.digest_of(new.secret) and len(new.digest) == 64
    # At least 32 bytes of entropy in the random body.
    assert apikeys.BODY_LENGTH * math.log2(len(apikeys.ALPHABET)) >= 256


def test_keys_are_unique():
    assert len({apikeys.generate().secret for _ in range(1000)}) == 1000


def test_a_changed_character_breaks_the_checksum():
    secret = apikeys.generate().secret
    for position in (4, 20, len(secret) - 1):
        original = secret[position]
        replacement = "A" if original != "A" else "B"
        tampered = secret[:position] + replacement + secret[position + 1 :]
        assert not apikeys.is_well_formed(tampered)


def test_malformed_values():
    secret = apikeys.generate().secret
    for value in [
        "",
        "mcp_",
        secret[:-1],
        secret + "x",
        "MCP_" + secret[4:],
        "ghp_" + secret[4:],
        secret[:10] + "-" + secret[11:],
        secret[:10] + "é" + secret[11:],
        " " + secret,
    ]:
        assert not apikeys.is_well_formed(value), value
