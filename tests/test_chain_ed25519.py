"""Ed25519 backends: RFC 8032 vectors, agreement between the backends, edge cases."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zion_core.chain import ed25519
from zion_core.chain.ed25519 import (
    BackendUnavailableError,
    Ed25519Backend,
    Ed25519LengthError,
    NaclBackend,
    PycryptodomeBackend,
    backend_by_name,
    consensus_backend,
    default_backend,
    is_valid_public_key,
)
from zion_core.errors import SerializationError

# RFC 8032, section 7.1 (pure Ed25519): (name, secret key, public key, message, signature).
_TEST_1024_MESSAGE = (
    "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98"
    "fa6e264bf09efe12ee50f8f54e9f77b1e355f6c50544e23fb1433ddf73be84d8"
    "79de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d"
    "658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc"
    "1a858efcb8550ee3a5e1998bd177e93a7363c344fe6b199ee5d02e82d522c4fe"
    "ba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e"
    "06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbef"
    "efd75499da96bd68a8a97b928a8bbc103b6621fcde2beca1231d206be6cd9ec7"
    "aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed1"
    "85ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2"
    "d17ba70eb6248e594e1a2297acbbb39d502f1a8c6eb6f1ce22b3de1a1f40cc24"
    "554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f270"
    "88d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc"
    "2732e69485bbc9c90bfbd62481d9089beccf80cfe2df16a2cf65bd92dd597b07"
    "07e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba"
    "b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51a"
    "ddd3b75a2b1ae0784504df543af8969be3ea7082ff7fc9888c144da2af58429e"
    "c96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb7"
    "51fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c"
    "42f58c30c04aafdb038dda0847dd988dcda6f3bfd15c4b4c4525004aa06eeff8"
    "ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34df"
    "f7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08"
    "d78ff4ef5d63653a65040cf9bfd4aca7984a74d37145986780fc0b16ac451649"
    "de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e4"
    "88acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a3"
    "2ef5b52a1ecc820e308aa342721aac0943bf6686b64b2579376504ccc493d97e"
    "6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5f"
    "b93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b5"
    "0d334ba77c225bc307ba537152f3f1610e4eafe595f6d9d90d11faa933a15ef1"
    "369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d"
    "b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c"
    "0618983f8741c5ef68d3a101e8a3b8cac60c905c15fc910840b94c00a0b9d0"
)
RFC8032_VECTORS = [
    (
        "TEST 1",
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "TEST 2",
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "TEST 3",
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
        "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
    (
        "TEST 1024",
        "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
        "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
        _TEST_1024_MESSAGE,
        "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350"
        "aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03",
    ),
    (
        "TEST SHA(abc)",
        "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
        "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
        "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b589"
        "09351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
    ),
]

BACKENDS: list[Ed25519Backend] = [NaclBackend(), PycryptodomeBackend()]
NACL, PYCRYPTODOME = BACKENDS

# Edwards25519 constants (RFC 8032, section 5.1): the group order and the base point.
L = 2**252 + 27742317777372353535851937790883648493
BASE_POINT = bytes.fromhex("5866666666666666666666666666666666666666666666666666666666666666")
IDENTITY = bytes([1]) + bytes(31)


def test_1024_message_is_1023_bytes_and_sha_abc_is_sha512() -> None:
    assert len(bytes.fromhex(_TEST_1024_MESSAGE)) == 1023
    assert RFC8032_VECTORS[4][3] == hashlib.sha512(b"abc").hexdigest()


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.name)
@pytest.mark.parametrize(
    ("name", "secret", "public", "message", "signature"),
    RFC8032_VECTORS,
    ids=[v[0] for v in RFC8032_VECTORS],
)
def test_rfc8032_vectors(
    backend: Ed25519Backend, name: str, secret: str, public: str, message: str, signature: str
) -> None:
    seed, pub, msg, sig = map(bytes.fromhex, (secret, public, message, signature))
    assert backend.public_key(seed) == pub
    assert backend.sign(seed, msg) == sig
    assert backend.verify(pub, msg, sig) is True
    assert backend.verify(pub, msg + b"\x00", sig) is False


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.name)
def test_backends_satisfy_the_protocol(backend: Ed25519Backend) -> None:
    assert isinstance(backend, Ed25519Backend)


def test_default_and_consensus_backends_are_libsodium() -> None:
    assert default_backend().name == "pynacl"
    assert consensus_backend().name == "pynacl"
    assert consensus_backend() is consensus_backend()
    assert backend_by_name("pycryptodome").name == "pycryptodome"
    with pytest.raises(BackendUnavailableError, match="unknown Ed25519 backend"):
        backend_by_name("openssl")


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.name)
def test_wrong_lengths_raise_a_typed_error(backend: Ed25519Backend) -> None:
    seed = bytes(32)
    pub = backend.public_key(seed)
    sig = backend.sign(seed, b"m")
    for bad in (b"", bytes(31), bytes(33)):
        with pytest.raises(Ed25519LengthError, match="must be 32 bytes"):
            backend.public_key(bad)
        with pytest.raises(Ed25519LengthError):
            backend.sign(bad, b"m")
        with pytest.raises(Ed25519LengthError):
            backend.verify(bad, b"m", sig)
    for bad in (b"", sig[:63], sig + b"\x00"):
        with pytest.raises(Ed25519LengthError, match="must be 64 bytes"):
            backend.verify(pub, b"m", bad)
    with pytest.raises(Ed25519LengthError, match="not str"):
        backend.public_key("00" * 16)  # type: ignore[arg-type]
    assert issubclass(Ed25519LengthError, SerializationError)


@settings(max_examples=25, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), message=st.binary(max_size=200), data=st.data())
def test_backends_agree_on_valid_and_tampered_signatures(
    seed: bytes, message: bytes, data: st.DataObject
) -> None:
    pub = NACL.public_key(seed)
    assert PYCRYPTODOME.public_key(seed) == pub
    sig = NACL.sign(seed, message)
    assert PYCRYPTODOME.sign(seed, message) == sig
    for backend in BACKENDS:
        assert backend.verify(pub, message, sig) is True

    def flip(value: bytes) -> bytes:
        bit = data.draw(st.integers(0, len(value) * 8 - 1))
        out = bytearray(value)
        out[bit // 8] ^= 1 << (bit % 8)
        return bytes(out)

    tampered = [(pub, flip(message) if message else b"x", sig), (pub, message, flip(sig))]
    tampered.append((flip(pub), message, sig))
    for args in tampered:
        verdicts = {backend.name: backend.verify(*args) for backend in BACKENDS}
        assert verdicts == {"pynacl": False, "pycryptodome": False}


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.name)
def test_malformed_key_or_signature_of_right_length_is_false_not_an_error(
    backend: Ed25519Backend,
) -> None:
    seed = bytes(range(32))
    pub = backend.public_key(seed)
    sig = backend.sign(seed, b"m")
    not_a_point = (2).to_bytes(32, "little")  # y = 2 is on no edwards25519 point
    non_canonical_y = (2**255 - 19 + 1).to_bytes(32, "little")
    s_too_big = sig[:32] + (int.from_bytes(sig[32:], "little") + L).to_bytes(32, "little")
    assert backend.verify(not_a_point, b"m", sig) is False
    assert backend.verify(non_canonical_y, b"m", sig) is False
    assert backend.verify(b"\xff" * 32, b"m", sig) is False
    assert backend.verify(pub, b"m", not_a_point + sig[32:]) is False
    assert backend.verify(pub, b"m", s_too_big) is False
    assert backend.verify(pub, b"m", bytes(64)) is False


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.name)
def test_small_order_public_key_is_rejected(backend: Ed25519Backend) -> None:
    # With A = identity and R = identity, S = 0 satisfies [S]B = R + [k]A for any message.
    # pycryptodome's eddsa alone accepts it; libsodium, and so our wrapper, reject it.
    assert backend.verify(IDENTITY, b"any message", IDENTITY + bytes(32)) is False


def test_raw_pycryptodome_would_accept_the_small_order_forgery() -> None:
    """Documents why PycryptodomeBackend adds libsodium's checks before verifying."""
    from Crypto.Signature import eddsa

    verifier = eddsa.new(eddsa.import_public_key(IDENTITY), "rfc8032")
    verifier.verify(b"any message", IDENTITY + bytes(32))  # does not raise


def _torsion_signature(seed: bytes, message: bytes) -> tuple[bytes, bytes]:
    """A signature whose R carries an order-8 component: valid only in the cofactored
    equation (pycryptodome), invalid in the cofactorless one (libsodium)."""
    from Crypto.Signature import eddsa

    def encode(point: object) -> bytes:
        x, y = (int(c) for c in point.xy)  # type: ignore[attr-defined]
        return (y | ((x & 1) << 255)).to_bytes(32, "little")

    base = eddsa.import_public_key(BASE_POINT).pointQ
    torsion = eddsa.import_public_key((3).to_bytes(32, "little")).pointQ * L
    assert not (torsion * 4).is_point_at_infinity()  # of order 8
    digest = hashlib.sha512(seed).digest()
    a = int.from_bytes(digest[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    public = encode(base * a)
    r = 0x1234567890ABCDEF
    r_enc = encode(base * r + torsion)
    k = int.from_bytes(hashlib.sha512(r_enc + public + message).digest(), "little") % L
    s = (r + k * a) % L
    return public, r_enc + s.to_bytes(32, "little")


def test_backends_differ_only_on_crafted_torsion_signatures() -> None:
    """The one documented difference: cofactored (pycryptodome) vs cofactorless (libsodium)
    verification. Consensus therefore always uses consensus_backend() (libsodium)."""
    seed = bytes(range(32))
    public, signature = _torsion_signature(seed, b"torsion")
    assert public == NACL.public_key(seed)
    assert PYCRYPTODOME.verify(public, b"torsion", signature) is True
    assert NACL.verify(public, b"torsion", signature) is False
    assert consensus_backend().verify(public, b"torsion", signature) is False


def test_is_valid_public_key() -> None:
    assert is_valid_public_key(NACL.public_key(bytes(32)))
    assert is_valid_public_key(BASE_POINT)
    assert not is_valid_public_key((2).to_bytes(32, "little"))
    assert not is_valid_public_key((2**255 - 19 + 1).to_bytes(32, "little"))
    with pytest.raises(Ed25519LengthError):
        is_valid_public_key(bytes(31))


def test_module_exports() -> None:
    assert set(ed25519.__all__) <= set(dir(ed25519))
