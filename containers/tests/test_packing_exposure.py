"""bench/packing_exposure.py's count of cross-document attention in packed blocks (docs/training.md "Packing")."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np

from medllama.resources import repo_root


def _bench():
    spec = importlib.util.spec_from_file_location("packing_exposure", repo_root() / "bench" / "packing_exposure.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_exposure_counts_tokens_after_an_inner_document_start() -> None:
    bench = _bench()
    bos = 1
    rows = np.array([[1, 5, 6, 2, 1, 7], [8, 2, 1, 9, 9, 2]])
    e = bench.exposure(rows, bos)
    # row 0: the document starting at 4 sees 4 foreign tokens at positions 4 and 5;
    # row 1: the tail of a document (8, 2) precedes the start at 2, so positions 2..5 each see 2 foreign tokens
    assert (e.blocks, e.tokens, e.tokens_seeing_another_document) == (2, 12, 6)
    assert e.mean_foreign_tokens_seen == (4 + 4 + 2 * 4) / 6
    assert (e.documents_starting_mid_block, e.documents_starting) == (2, 3)
    assert e.share == 0.5
    assert bench.exposure(np.array([[1, 3, 3, 3]]), bos).tokens_seeing_another_document == 0  # one document


def test_pack_is_the_tokenize_packing() -> None:
    bench = _bench()
    # <s> doc </s> streams cut into rows of 4; the last document continues into the third row
    assert bench.pack([[5, 6], [7], [8, 9, 10]], 4, 1, 2).tolist() == [[1, 5, 6, 2], [1, 7, 2, 1], [8, 9, 10, 2]]
    # a tail shorter than a row is dropped, as Tokenize drops a chunk's tail
    assert bench.pack([[5, 6], [7]], 4, 1, 2).tolist() == [[1, 5, 6, 2]]
