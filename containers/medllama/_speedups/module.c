/*
 * C versions of the data steps' hottest byte, string and hash work (medllama.speedups builds and loads them).
 *
 * The step's output never depends on whether this module was compiled: each function either has a Python twin
 * that it equals on every input, or only shortens the way to a result the walker would reach anyway.
 * containers/tests/test_speedups.py holds both, on the fixtures, the sample corpus and random inputs.
 *
 *   cut_elements        = safety.cut_elements_py       reference lists and table bodies cut from the bytes
 *   has_markup_repairs  = safety.has_markup_repairs_py whether repair_markup has anything to rewrite
 *   squash              = text.squash_py               whitespace collapse (8 bytes at a time where it can)
 *   squash_pieces       = text.squash_pieces_py        the same for every block of a document in one pass
 *   collapse            = " ".join(text.split())        the same, zero-width characters kept (minhash)
 *   nfc_probe           (text.nfc)                     the part of a text that NFC could change
 *   nfkc_probe/_assemble (minhash._nfkc)               NFKC over the non-ASCII runs only
 *   remove_citation_runs (text._remove_citations)      the citation loop; undecided runs go to text._general
 *   mark_citations      (safety.parse)                 plain bibliography xrefs in the body become markers
 *   langid_features     = py3langid's instance2fv      the language ID's feature counts
 *   shingle_hashes      = minhash._shingle_hashes_py   word 5-gram shingle hashes, distinct and sorted
 *   permutation_minima  = minhash._permutation_minima_py   the MinHash minimum of every permutation
 *
 * One file per job: cut.c, mark.c, text.c, citations.c, langid.c, minhash.c; speedups.h has what they share. Built by
 * `python -m medllama.speedups` for the running interpreter (-O2, its headers), all files into one module.
 */
#include "speedups.h"

#ifndef SPEEDUPS_SOURCE_SHA256
#define SPEEDUPS_SOURCE_SHA256 "unknown"
#endif

static PyMethodDef methods[] = {
    {"cut_elements", (PyCFunction)(void (*)(void))speedups_cut_elements, METH_VARARGS | METH_KEYWORDS,
     "cut_elements(data, *, tables=False) -> (bytes, counts): as medllama.ingest.safety.cut_elements."},
    {"mark_citations", speedups_mark_citations, METH_O,
     "mark_citations(data) -> bytes: plain bibliography xrefs replaced by their citation markers."},
    {"has_markup_repairs", speedups_has_markup_repairs, METH_O,
     "has_markup_repairs(data) -> (default_ns, named_entity): as medllama.ingest.safety.has_markup_repairs."},
    {"squash", speedups_squash, METH_O, "squash(text) -> str: as medllama.ingest.text.squash."},
    {"collapse", speedups_collapse, METH_O, "collapse(text) -> str: ' '.join(text.split())."},
    {"squash_pieces", speedups_squash_pieces, METH_VARARGS,
     "squash_pieces(text, sep) -> list[str]: [squash(p) for p in text.split(sep)]."},
    {"remove_citation_runs", speedups_remove_citation_runs, METH_VARARGS,
     "remove_citation_runs(text, general) -> (str, int, bool, bool): see medllama.ingest.text._remove_citations."},
    {"shingle_hashes", speedups_shingle_hashes, METH_VARARGS,
     "shingle_hashes(normalized, pos) -> bytes: see medllama.minhash.shingle_hashes_py."},
    {"permutation_minima", speedups_permutation_minima, METH_VARARGS,
     "permutation_minima(shingles, a, b) -> bytes: see medllama.minhash._permutation_minima_py."},
    {"langid_features", speedups_langid_features, METH_VARARGS,
     "langid_features(data, nextmove, offsets, features, n) -> bytes: see medllama.ingest.language."},
    {"nfkc_probe", speedups_nfkc_probe, METH_O, "nfkc_probe(text) -> str | None: see medllama.minhash._nfkc."},
    {"nfkc_assemble", speedups_nfkc_assemble, METH_VARARGS,
     "nfkc_assemble(text, normalized) -> str: see medllama.minhash._nfkc."},
    {"nfc_probe", speedups_nfc_probe, METH_O, "nfc_probe(text) -> str | None: see medllama.ingest.text.nfc."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_speedups", "C versions of the data steps' hottest work (medllama.speedups).", -1, methods, NULL, NULL, NULL,
    NULL,
};

PyMODINIT_FUNC PyInit__speedups(void) {
    speedups_text_init();
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddStringConstant(m, "SOURCE_SHA256", SPEEDUPS_SOURCE_SHA256) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
