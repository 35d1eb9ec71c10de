"""The base model's tokenizer, as every step uses it: one object, one set of settings.

Tokenize packs with it, Train checks its data against it, Evaluate scores with it, so the ids a model is
trained on and the ids it is measured on come from the same code (DESIGN §4.4, §4.6):

- loaded from the ``tokenizer.json`` of the base model folder (or a bare file) with the ``tokenizers`` library,
  never rebuilt by ``transformers`` (whose Llama classes may swap the normalizer for a different whitespace rule);
- ``encode_special_tokens`` on: a literal ``<s>``, ``</s>``, ``<|endoftext|>`` or ``<unk>`` in article text is
  text, never a special id (the special ids come only from the framing below);
- BOS and EOS are the base model's own: the folder's ``tokenizer_config.json`` names them (``bos_token``,
  ``eos_token``; ``bos_token: null`` or ``add_bos_token: false`` = a base without BOS, as SmolLM2's GPT-2-style
  tokenizer, whose document separator is ``<|endoftext|>``). A bare ``tokenizer.json`` with no config beside it
  is read as Llama 2's (``<s>`` / ``</s>``), the production default;
- Tokenize packs each document as ``[BOS, *ids, EOS]``, or ``[*ids, EOS]`` for a base without BOS: in the packed
  stream such a document then follows the EOS of the one before it, the separator the base was pretrained with;
- Evaluate scores (and prompts start from) what the model sees before a document in training:
  :attr:`BaseTokenizer.start_id` is BOS, or EOS for a base without BOS. So every text token is scored with a
  context, the first one included, for both kinds of base (:meth:`BaseTokenizer.frame`).

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
    bos_id: int | None
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
        bos = "none" if self.bos_id is None else self.bos_id
        return f"fingerprint {self.fingerprint[:16]} (vocabulary {self.vocab_size}, bos {bos}, eos {self.eos_id})"


def fingerprint(serialized: Mapping[str, Any], bos_id: int | None, eos_id: int) -> str:
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
    bos_id: int | None
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

    @property
    def start_id(self) -> int:
        """The token a document follows in training: BOS, or for a base without BOS the EOS that ends the
        previous document in Tokenize's packed stream. Evaluate's documents and prompts start with it."""
        return self.eos_id if self.bos_id is None else self.bos_id

    @property
    def prefix(self) -> list[int]:
        """What Tokenize puts before a document's ids: ``[BOS]``, or nothing for a base without BOS."""
        return [] if self.bos_id is None else [self.bos_id]

    def encode(self, text: str) -> list[int]:
        """The ids of ``text`` with no special ids added."""
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def encode_many(self, texts: Sequence[str]) -> list[list[int]]:
        """:meth:`encode` of each text, on the library's Rust threads."""
        encode = getattr(self.tokenizer, "encode_batch_fast", None) or self.tokenizer.encode_batch
        return [e.ids for e in encode(list(texts), add_special_tokens=False)]

    def frame(self, text: str) -> list[int]:
        """A document as Evaluate scores it: ``[start, *ids, EOS]`` (:attr:`start_id`). For a base with BOS this
        is exactly what Tokenize packs; for one without, Tokenize packs ``[*ids, EOS]`` and the start is the
        previous document's EOS in the stream."""
        return [self.start_id, *self.encode(text), self.eos_id]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids`` without special tokens."""
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)


def load_base_tokenizer(path: str | os.PathLike[str], config: str | os.PathLike[str] | None = None) -> BaseTokenizer:
    """Loads ``tokenizer.json`` (a file, or a model folder holding one) with the project's settings.

    BOS/EOS come from ``config`` (a ``tokenizer_config.json`` file or a folder holding one; default: the one beside
    ``tokenizer.json``, when there is one), else they are Llama 2's ``<s>`` / ``</s>``. Raises
    :class:`TokenizerError` naming the file and field when the tokenizer is missing or unreadable, or when a named
    token is not in its vocabulary.
    """
    from tokenizers import Tokenizer

    file = resolve_tokenizer_file(path)
    data = file.read_bytes()
    try:
        tok = Tokenizer.from_str(data.decode("utf-8"))
    except Exception as err:  # the library raises bare Exceptions on malformed files
        raise TokenizerError(f"{file}: not a tokenizers tokenizer.json ({err})") from None
    tok.encode_special_tokens = True
    config_file = _resolve_config_file(file, config)
    bos, eos = _special_ids(tok, file, config_file)
    identity = TokenizerIdentity(
        sha256=hashlib.sha256(data).hexdigest(),
        fingerprint=fingerprint(json.loads(tok.to_str()), bos, eos),
        vocab_size=tok.get_vocab_size(with_added_tokens=True),
        bos_id=bos,
        eos_id=eos,
    )
    return BaseTokenizer(tok, bos, eos, identity, file)


def _resolve_config_file(tokenizer_file: Path, config: str | os.PathLike[str] | None) -> Path | None:
    """The ``tokenizer_config.json`` to read: ``config`` (a file or a folder holding one; it must exist), else the
    one beside the tokenizer file if there is one, else None."""
    if config is None or str(config) == "":
        beside = tokenizer_file.parent / "tokenizer_config.json"
        return beside if beside.is_file() else None
    p = Path(config)
    if p.is_dir():
        p = p / "tokenizer_config.json"
    if not p.is_file():
        raise TokenizerError(f"{config}: no tokenizer_config.json there (give the file or a folder containing it)")
    return p


def _token_content(value: Any) -> Any:
    """A special token as tokenizer_config.json writes it: a string, or an AddedToken dict with ``content``."""
    return value.get("content") if isinstance(value, dict) else value


def _special_ids(tok: Any, file: Path, config: Path | None) -> tuple[int | None, int]:
    """(BOS id or None, EOS id) of ``tok`` as ``config`` names them; Llama 2's when there is no config."""
    declared: dict[str, Any] = {}
    if config is not None:
        try:
            loaded = json.loads(config.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise TokenizerError(f"{config}: not readable as JSON ({err})") from None
        if not isinstance(loaded, dict):
            raise TokenizerError(f"{config}: expected a JSON object, got {type(loaded).__name__}")
        declared = loaded
    where = config if config is not None else file
    bos_token = _token_content(declared["bos_token"]) if "bos_token" in declared else BOS
    eos_token = _token_content(declared["eos_token"]) if "eos_token" in declared else EOS
    if declared.get("add_bos_token") is False:
        bos_token = None  # the tokenizer never adds one: documents are framed without BOS
    if not isinstance(eos_token, str) or not eos_token:
        raise TokenizerError(
            f"{where}: eos_token is {eos_token!r}, expected the name of a token (documents end with it)"
        )
    if bos_token is not None and (not isinstance(bos_token, str) or not bos_token):
        raise TokenizerError(f"{where}: bos_token is {bos_token!r}, expected the name of a token or null (no BOS)")
    ids: dict[str, int | None] = {}
    for name, token in (("bos_token", bos_token), ("eos_token", eos_token)):
        if token is None:
            ids[name] = None
            continue
        found = tok.token_to_id(token)
        if found is None:
            source = (
                f"{config}: {name}" if name in declared else f"{file}: {name} (Llama 2's, no tokenizer_config.json)"
            )
            raise TokenizerError(f"{source} is {token!r}, which is not in the vocabulary of {file}")
        ids[name] = found
    eos = ids["eos_token"]
    assert eos is not None
    # GPT-2-style folders name one token for both (SmolLM2's base: <|endoftext|>): that is a separator, not a BOS
    return (None if ids["bos_token"] == eos else ids["bos_token"]), eos


def identity_from_manifest(manifest: Mapping[str, Any]) -> TokenizerIdentity | None:
    """The identity a manifest recorded with :meth:`TokenizerIdentity.as_manifest`; None if it has none."""
    fp = manifest.get("tokenizer_fingerprint")
    if not isinstance(fp, str) or not fp:
        return None
    return TokenizerIdentity(
        sha256=str(manifest.get("tokenizer_sha256", "")),
        fingerprint=fp,
        vocab_size=int(manifest.get("tokenizer_vocab_size", 0)),
        bos_id=None if manifest.get("bos_id", -1) is None else int(manifest.get("bos_id", -1)),
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
