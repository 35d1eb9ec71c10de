"""The base model's tokenizer, as every step uses it: one object, one set of settings.

Tokenize packs with it, Train checks its data against it, Evaluate scores with it, so the ids a model is
trained on and the ids it is measured on come from the same code (DESIGN §4.4, §4.6):

- loaded from the ``tokenizer.json`` of the base model folder (or a bare file) with the ``tokenizers`` library,
  never rebuilt by ``transformers`` (whose Llama classes may swap the normalizer for a different whitespace rule);
- ``encode_special_tokens`` on: a literal ``<s>``, ``</s>`` or ``<unk>`` in article text is text, never a special
  id (the special ids come only from :meth:`BaseTokenizer.frame`);
- documents are framed ``[BOS, *ids, EOS]``.

Its identity travels with the data: :class:`TokenizerIdentity` holds the file's sha256 and a fingerprint of what
decides the ids (the model's vocabulary and merges, the normalizer, the pre-tokenizer, the added tokens, BOS and
EOS), computed from the library's own serialization so that a copy re-saved with other formatting has the same
fingerprint. The packed data's manifest records it; Train and Evaluate refuse a base model whose tokenizer differs.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


class TokenizerError(ValueError):
    """No usable tokenizer, or one that does not match the data."""


BOS, EOS = "<s>", "</s>"


def resolve_tokenizer_file(path: str | os.PathLike[str]) -> Path:
    """``path`` itself, or ``path/tokenizer.json`` when it is a folder."""
    p = Path(path)
    if p.is_dir():
        p = p / "tokenizer.json"
    if not p.is_file():
        raise TokenizerError(f"{path}: no tokenizer.json there (give the file or a model folder containing it)")
    return p


@dataclass(frozen=True)
class TokenizerIdentity:
    """What the packed data and the models are checked by. ``fingerprint`` decides; ``sha256`` names the file."""

    sha256: str
    fingerprint: str
    vocab_size: int
    bos_id: int
    eos_id: int

    def as_manifest(self) -> dict[str, Any]:
        """The fields a data manifest or summary records (``tokenizer_*`` names, flat)."""
        d = asdict(self)
        return {
            "tokenizer_sha256": d["sha256"],
            "tokenizer_fingerprint": d["fingerprint"],
            "tokenizer_vocab_size": d["vocab_size"],
            "bos_id": d["bos_id"],
            "eos_id": d["eos_id"],
        }

    def describe(self) -> str:
        return (
            f"fingerprint {self.fingerprint[:16]} (vocabulary {self.vocab_size}, bos {self.bos_id}, eos {self.eos_id})"
        )


def fingerprint(serialized: Mapping[str, Any], bos_id: int, eos_id: int) -> str:
    """sha256 over the parts of a ``tokenizers`` serialization that decide ids, in canonical JSON."""
    added = sorted(
        (int(t["id"]), str(t["content"]), bool(t.get("special", False))) for t in serialized.get("added_tokens") or []
    )
    decisive = {
        "model": serialized.get("model"),
        "normalizer": serialized.get("normalizer"),
        "pre_tokenizer": serialized.get("pre_tokenizer"),
        "added_tokens": added,
        "bos_id": bos_id,
        "eos_id": eos_id,
    }
    canonical = json.dumps(decisive, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass
class BaseTokenizer:
    """A loaded tokenizer with the project's settings. ``tokenizer`` is the ``tokenizers.Tokenizer``."""

    tokenizer: Any
    bos_id: int
    eos_id: int
    identity: TokenizerIdentity
    path: Path

    @property
    def sha256(self) -> str:
        return self.identity.sha256

    @property
    def pad_id(self) -> int:
        """Padding for batched forward passes (masked out, so any id works): EOS, as Llama 2 has no pad token."""
        return self.eos_id

    def encode(self, text: str) -> list[int]:
        """The ids of ``text`` with no special ids added."""
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def encode_many(self, texts: Sequence[str]) -> list[list[int]]:
        """:meth:`encode` of each text, on the library's Rust threads."""
        encode = getattr(self.tokenizer, "encode_batch_fast", None) or self.tokenizer.encode_batch
        return [e.ids for e in encode(list(texts), add_special_tokens=False)]

    def frame(self, text: str) -> list[int]:
        """A document as Tokenize packs it and Evaluate scores it: ``[BOS, *ids, EOS]``."""
        return [self.bos_id, *self.encode(text), self.eos_id]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids`` without special tokens."""
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)


def load_base_tokenizer(path: str | os.PathLike[str]) -> BaseTokenizer:
    """Loads ``tokenizer.json`` (a file, or a model folder holding one) with the project's settings.

    Raises :class:`TokenizerError` naming the file when it is missing, unreadable or has no ``<s>`` / ``</s>``,
    or when the folder's ``tokenizer_config.json`` names other BOS/EOS tokens.
    """
    from tokenizers import Tokenizer

    file = resolve_tokenizer_file(path)
    data = file.read_bytes()
    try:
        tok = Tokenizer.from_str(data.decode("utf-8"))
    except Exception as err:  # the library raises bare Exceptions on malformed files
        raise TokenizerError(f"{file}: not a tokenizers tokenizer.json ({err})") from None
    tok.encode_special_tokens = True
    bos, eos = tok.token_to_id(BOS), tok.token_to_id(EOS)
    if bos is None or eos is None:
        raise TokenizerError(f"{file}: no {BOS} / {EOS} tokens (not a Llama tokenizer?)")
    _check_declared_specials(file.parent / "tokenizer_config.json")
    identity = TokenizerIdentity(
        sha256=hashlib.sha256(data).hexdigest(),
        fingerprint=fingerprint(json.loads(tok.to_str()), bos, eos),
        vocab_size=tok.get_vocab_size(with_added_tokens=True),
        bos_id=bos,
        eos_id=eos,
    )
    return BaseTokenizer(tok, bos, eos, identity, file)


def _check_declared_specials(config: Path) -> None:
    """A model folder's tokenizer_config.json must not name other BOS/EOS tokens than the ones framed with."""
    if not config.is_file():
        return
    try:
        declared = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return
    for name, want in (("bos_token", BOS), ("eos_token", EOS)):
        value = declared.get(name) if isinstance(declared, dict) else None
        value = value.get("content") if isinstance(value, dict) else value
        if isinstance(value, str) and value != want:
            raise TokenizerError(f"{config}: {name} is {value!r}, expected {want!r}")


def identity_from_manifest(manifest: Mapping[str, Any]) -> TokenizerIdentity | None:
    """The identity a manifest recorded with :meth:`TokenizerIdentity.as_manifest`; None if it has none."""
    fp = manifest.get("tokenizer_fingerprint")
    if not isinstance(fp, str) or not fp:
        return None
    return TokenizerIdentity(
        sha256=str(manifest.get("tokenizer_sha256", "")),
        fingerprint=fp,
        vocab_size=int(manifest.get("tokenizer_vocab_size", 0)),
        bos_id=int(manifest.get("bos_id", -1)),
        eos_id=int(manifest.get("eos_id", -1)),
    )


def require_same_tokenizer(
    recorded: Mapping[str, Any], base: BaseTokenizer, *, what: str, base_name: str = "the base model"
) -> None:
    """Raises :class:`TokenizerError` unless ``recorded`` (a data manifest or summary) names ``base``'s tokenizer.

    ``what`` names the recorded side (e.g. ``"the train data (…/medllama-split.json)"``) for the message."""
    want = identity_from_manifest(recorded)
    if want is None:
        raise TokenizerError(
            f"{what} records no tokenizer fingerprint, so it cannot be checked against {base_name}'s tokenizer "
            f"({base.path}); re-run the tokenize step, which records it"
        )
    if want.fingerprint != base.identity.fingerprint:
        raise TokenizerError(
            f"{what} was tokenized with a different tokenizer than {base_name}'s: data {want.describe()}, "
            f"sha256 {want.sha256[:16]}; {base_name} {base.identity.describe()}, sha256 {base.sha256[:16]} "
            f"({base.path}). Re-tokenize with the base model's tokenizer, or train the base model the data was made for"
        )
