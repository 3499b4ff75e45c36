"""TOTP codes: RFC 6238 vectors, drift, replay, skew, secrets and otpauth URIs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest

from desktop_crm.crypto import totp
from desktop_crm.errors import AuthenticationFailed, InvalidInput

#: RFC 6238 Appendix B: the SHA-1 seed "12345678901234567890" in base32.
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
#: RFC 6238 Appendix B, SHA-1 column: (Unix time, 8-digit TOTP).
RFC_VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]
ISSUER = "Smith & Jones Telehealth"
ACCOUNT = "dr.o'neil+test@clinic.example"
SECRET32 = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NOW = 1_800_000_015.0


def reference_code(secret_b32: str, at: float) -> str:
    """RFC 4226 HOTP over the RFC 6238 counter, computed with hmac directly."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(at // 30)), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


@pytest.mark.parametrize(("at", "expected"), RFC_VECTORS)
def test_rfc6238_vectors_match_pyotp_at_eight_digits(at, expected):
    reference = pyotp.TOTP(RFC_SECRET, digits=8, interval=30)

    code = reference.at(at)

    assert code == expected


@pytest.mark.parametrize(("at", "expected"), RFC_VECTORS)
def test_our_code_is_last_six_digits_of_rfc_vector(at, expected):
    code = totp.code_at(RFC_SECRET, at)

    assert code == expected[-6:]


@pytest.mark.parametrize(("at", "expected"), RFC_VECTORS)
def test_verify_accepts_rfc_vector_at_its_time(at, expected):
    step = totp.verify(RFC_SECRET, expected[-6:], at, last_step=0)

    assert step == at // 30


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_one_step_of_drift_either_way_is_accepted(offset):
    code = totp.code_at(SECRET32, NOW + offset * totp.PERIOD)

    step = totp.verify(SECRET32, code, NOW, last_step=0)

    assert step == totp.time_step(NOW) + offset


@pytest.mark.parametrize("offset", [-3, -2, 2, 3])
def test_two_or_more_steps_of_drift_are_refused(offset):
    code = totp.code_at(SECRET32, NOW + offset * totp.PERIOD)

    with pytest.raises(AuthenticationFailed):
        totp.verify(SECRET32, code, NOW, last_step=0)


def test_replayed_code_is_refused():
    code = totp.code_at(SECRET32, NOW)
    step = totp.verify(SECRET32, code, NOW, last_step=0)

    with pytest.raises(AuthenticationFailed):
        totp.verify(SECRET32, code, NOW, last_step=step)


def test_code_older_than_last_accepted_step_is_refused():
    current = totp.time_step(NOW)
    earlier = totp.code_at(SECRET32, NOW - totp.PERIOD)

    with pytest.raises(AuthenticationFailed):
        totp.verify(SECRET32, earlier, NOW, last_step=current)


def test_next_step_after_last_accepted_is_accepted():
    current = totp.time_step(NOW)
    later = totp.code_at(SECRET32, NOW + totp.PERIOD)

    step = totp.verify(SECRET32, later, NOW, last_step=current)

    assert step == current + 1


@pytest.mark.parametrize("skew", [-3, 3])
def test_skew_steps_finds_a_three_step_skew(skew):
    code = totp.code_at(SECRET32, NOW + skew * totp.PERIOD)

    found = totp.skew_steps(SECRET32, code, NOW)

    assert found == skew


def test_skew_steps_none_for_malformed_code():
    found = totp.skew_steps(SECRET32, "12a456", NOW)

    assert found is None


def test_spaces_inside_a_code_are_tolerated():
    code = totp.code_at(SECRET32, NOW)
    spaced = f" {code[:3]} {code[3:]} "

    step = totp.verify(SECRET32, spaced, NOW, last_step=0)

    assert step == totp.time_step(NOW)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda c: c[:5],
        lambda c: c + "0",
        lambda c: c[:5] + "a",
        lambda c: "abcdef",
        lambda c: "",
        lambda c: "      ",
        lambda c: c[:3] + "-" + c[3:],
        lambda c: "".join(chr(0x0660 + int(d)) for d in c),
    ],
    ids=[
        "5-digits",
        "7-digits",
        "letter",
        "letters",
        "empty",
        "blank",
        "dash",
        "arabic-indic",
    ],
)
def test_malformed_codes_are_refused(mangle):
    code = mangle(totp.code_at(SECRET32, NOW))

    with pytest.raises(AuthenticationFailed) as caught:
        totp.verify(SECRET32, code, NOW, last_step=0)

    assert caught.value.message == AuthenticationFailed.GENERIC


def test_provisioning_uri_percent_encodes_label_and_issuer():
    uri = totp.provisioning_uri(SECRET32, ACCOUNT, ISSUER)

    parts = urlsplit(uri)
    label = parts.path.lstrip("/")
    prefix, _, account = label.partition(":")
    assert parts.scheme == "otpauth" and parts.netloc == "totp"
    assert prefix == "Smith%20%26%20Jones%20Telehealth"
    assert "%2Btest" in account and "+" not in uri.split("?")[0]
    assert "issuer=Smith%20%26%20Jones%20Telehealth" in parts.query
    assert "+" not in parts.query


def test_provisioning_uri_fixes_digits_period_and_algorithm():
    uri = totp.provisioning_uri(SECRET32, ACCOUNT, ISSUER)

    query = parse_qs(urlsplit(uri).query)

    assert query["digits"] == ["6"]
    assert query["period"] == ["30"]
    assert query["algorithm"] == ["SHA1"]
    assert query["secret"] == [SECRET32]


def test_provisioning_uri_round_trips_through_pyotp():
    uri = totp.provisioning_uri(SECRET32, ACCOUNT, ISSUER)

    parsed = pyotp.parse_uri(uri)

    assert parsed.issuer == ISSUER
    assert parsed.name == ACCOUNT
    assert parsed.secret == SECRET32
    assert parsed.digits == 6 and parsed.interval == 30
    assert parsed.at(NOW) == totp.code_at(SECRET32, NOW)


def test_label_prefix_equals_issuer():
    uri = totp.provisioning_uri(SECRET32, ACCOUNT, ISSUER)

    label = pyotp.parse_uri(uri)

    assert label.issuer == parse_qs(urlsplit(uri).query)["issuer"][0]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("jbsw y3dp ehpk 3pxp", "JBSWY3DPEHPK3PXP"),
        ("jbswy3dpehpk3pxp", "JBSWY3DPEHPK3PXP"),
        ("JBSW-Y3DP-EHPK-3PXP", "JBSWY3DPEHPK3PXP"),
        ("GEZDGNBVGY3TQOJQGEZDGNBVGY", "GEZDGNBVGY3TQOJQGEZDGNBVGY"),
        ("GEZDGNBVGY3TQOJQGEZDGNBVGY======", "GEZDGNBVGY3TQOJQGEZDGNBVGY"),
    ],
)
def test_typed_secrets_normalise(typed, expected):
    cleaned = totp.normalise_secret(typed)

    assert cleaned == expected


@pytest.mark.parametrize(
    "typed",
    [
        "jbsw y3dp ehpk 3pxp",
        "GEZDGNBVGY3TQOJQGEZDGNBVGY",
    ],
)
def test_normalised_secret_matches_reference_code(typed):
    fixed = 1_700_000_000.0
    cleaned = totp.normalise_secret(typed)

    code = totp.code_at(cleaned, fixed)

    assert code == reference_code(cleaned, fixed)
    assert totp.verify(cleaned, code, fixed, last_step=0) == fixed // 30


@pytest.mark.parametrize(
    "typed", ["JBSWY3DPEHPK3PX0", "JBSWY3DPEHPK3PX1", "JBSWY3DP", "", "   ", "ÄBCDEFGH"]
)
def test_invalid_secret_is_refused_naming_the_field(typed):
    with pytest.raises(InvalidInput) as caught:
        totp.normalise_secret(typed)

    assert caught.value.field == "TOTP secret"
    assert "TOTP secret" in caught.value.message


def test_new_secret_is_160_bits_of_base32():
    secret = totp.new_secret()

    cleaned = totp.normalise_secret(secret)

    assert cleaned == secret
    assert len(base64.b32decode(secret)) == 20
