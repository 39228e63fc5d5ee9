"""A finding's identity across edits: what a baseline matches on and SARIF's `partialFingerprints` carry.

Lines move when code is added above them, so the line number is not part of the identity: the
path, the code, the model and a hash of the reported line's text with its whitespace normalised
are. Two equal findings on two identical lines of one model share a fingerprint; callers that
need them apart count them (`occurrence`).
"""

from __future__ import annotations

import hashlib

from vglint.findings import Finding


def line_hash(text: str) -> str:
    """A short hash of a source line, blind to indentation and runs of whitespace."""
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()[:16]


def fingerprint(finding: Finding, line_text: str) -> str:
    """The identity of `finding`, reported on a line whose text is `line_text`."""
    key = "\0".join((finding.filename, finding.code, finding.model or "", line_hash(line_text)))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
