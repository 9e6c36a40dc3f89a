#!/usr/bin/env python3
"""An independent check of a Verifiable Credential's eddsa-jcs-2022 Data Integrity proof.

Written from the W3C Recommendation "Data Integrity EdDSA Cryptosuites v1.0" (section 3.3)
with libraries from PyPI, none of them shared with the Swift code: rfc8785 (JCS), base58 and
cryptography (Ed25519). Usage:

    verify-credential.py FILE --public-key HEX [--open-badge]

--public-key: the credential must be signed with this Ed25519 key (64 hex digits), the key the
verifier trusts (a signature by any other key proves nothing about the issuer); --open-badge:
it must also have the Open Badges 3.0 shape of an OpenBadgeCredential. Prints VALID and exits
0, or prints INVALID with the reason and exits 1.
"""
import argparse
import hashlib
import json
import sys

import base58
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def fail(reason):
    print("INVALID " + reason)
    sys.exit(1)


def open_badge_problems(credential):
    problems = []
    contexts = credential.get("@context", [])
    if contexts[:1] != ["https://www.w3.org/ns/credentials/v2"]:
        problems.append("the first context is not VC 2.0")
    if not any(str(c).startswith("https://purl.imsglobal.org/spec/ob/v3p0/context") for c in contexts):
        problems.append("no Open Badges 3.0 context")
    if "OpenBadgeCredential" not in credential.get("type", []):
        problems.append("not an OpenBadgeCredential")
    issuer = credential.get("issuer", {})
    if not (isinstance(issuer, dict) and issuer.get("id") and "Profile" in issuer.get("type", [])):
        problems.append("the issuer is not a Profile with an id")
    if "validFrom" not in credential:
        problems.append("no validFrom")
    subject = credential.get("credentialSubject", {})
    if "AchievementSubject" not in subject.get("type", []):
        problems.append("the subject is not an AchievementSubject")
    achievement = subject.get("achievement", {})
    for field in ("id", "name", "description", "criteria"):
        if field not in achievement:
            problems.append("the achievement has no " + field)
    if "Achievement" not in achievement.get("type", []):
        problems.append("the achievement is not an Achievement")
    return problems


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("file")
    parser.add_argument("--public-key", required=True)
    parser.add_argument("--open-badge", action="store_true")
    arguments = parser.parse_args()
    try:
        with open(arguments.file, encoding="utf-8") as handle:
            document = json.load(handle)
    except (OSError, ValueError) as error:
        fail("not a JSON document: %s" % error.__class__.__name__)
    if not isinstance(document, dict):
        fail("not a credential")
    proof = document.pop("proof", None)
    if not isinstance(proof, dict):
        fail("no proof")
    if proof.get("type") != "DataIntegrityProof" or proof.get("cryptosuite") != "eddsa-jcs-2022":
        fail("not an eddsa-jcs-2022 DataIntegrityProof")
    if proof.get("proofPurpose") != "assertionMethod":
        fail("the proof's purpose is not assertionMethod")
    proof_value = proof.pop("proofValue", "")
    if not isinstance(proof_value, str) or len(proof_value) > 200:
        fail("the proof value is not a signature")
    if "@context" in proof and proof["@context"] != document.get("@context"):
        fail("the proof's context is not the document's")
    method = proof.get("verificationMethod", "")
    if not isinstance(method, str) or len(method) > 200:
        fail("the verification method is not a did:key")
    did, _, fragment = method.partition("#")
    if not did.startswith("did:key:z") or (fragment and fragment != did[len("did:key:"):]):
        fail("the verification method is not a did:key")
    key_bytes = base58.b58decode(did[len("did:key:z"):])
    if len(key_bytes) != 34 or key_bytes[:2] != b"\xed\x01":
        fail("the did:key is not an Ed25519 key")
    public_key = key_bytes[2:]
    if public_key.hex() != arguments.public_key.lower():
        fail("signed with another key than the one trusted")
    issuer = document.get("issuer")
    issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
    if isinstance(issuer, dict) and issuer_id != did:
        fail("the issuer is not the key that signed")
    if isinstance(issuer_id, str) and issuer_id.startswith("did:") and issuer_id != did:
        fail("the issuer is not the key that signed")
    if not proof_value.startswith("z"):
        fail("the proof value is not base58btc")
    signature = base58.b58decode(proof_value[1:])
    data = hashlib.sha256(rfc8785.dumps(proof)).digest() + hashlib.sha256(rfc8785.dumps(document)).digest()
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, data)
    except (InvalidSignature, ValueError):
        fail("the signature does not match")
    if arguments.open_badge:
        problems = open_badge_problems(document)
        if problems:
            fail("; ".join(problems))
    print("VALID " + did)


if __name__ == "__main__":
    main()
