/*
 * What the files of the C speedups share: CPython's headers, byte search (glibc's memmem/memrchr), a growable
 * list of spans, XML whitespace, and the functions the module exports (module.c lists them).
 */
#ifndef MEDLLAMA_SPEEDUPS_H
#define MEDLLAMA_SPEEDUPS_H

#define PY_SSIZE_T_CLEAN
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, memrchr */
#endif
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* data.find(needle, start, end) for 0 <= start; -1 when absent. */
static inline Py_ssize_t find(const char *data, Py_ssize_t start, Py_ssize_t end, const char *needle, Py_ssize_t n) {
    if (start < 0) start = 0;
    if (end - start < n) return -1;
    const char *at = memmem(data + start, (size_t)(end - start), needle, (size_t)n);
    return at ? at - data : -1;
}

/* data.rfind(needle, 0, end): the needle's first byte found backwards with memrchr, the rest compared. */
static inline Py_ssize_t rfind(const char *data, Py_ssize_t end, const char *needle, Py_ssize_t n) {
    Py_ssize_t limit = end - n + 1; /* a match starts before this */
    while (limit > 0) {
        const char *at = memrchr(data, needle[0], (size_t)limit);
        if (at == NULL) return -1;
        if (memcmp(at, needle, (size_t)n) == 0) return at - data;
        limit = at - data;
    }
    return -1;
}

typedef struct {
    Py_ssize_t *start, *end;
    Py_ssize_t len, cap;
} Spans;

static inline int spans_push(Spans *s, Py_ssize_t start, Py_ssize_t end) {
    if (s->len == s->cap) {
        Py_ssize_t cap = s->cap ? 2 * s->cap : 16;
        Py_ssize_t *a = PyMem_Realloc(s->start, (size_t)cap * sizeof(Py_ssize_t));
        if (a == NULL) return -1;
        s->start = a;
        Py_ssize_t *b = PyMem_Realloc(s->end, (size_t)cap * sizeof(Py_ssize_t));
        if (b == NULL) return -1;
        s->end = b;
        s->cap = cap;
    }
    s->start[s->len] = start;
    s->end[s->len] = end;
    s->len++;
    return 0;
}

static inline void spans_free(Spans *s) {
    PyMem_Free(s->start);
    PyMem_Free(s->end);
    s->start = s->end = NULL;
    s->len = s->cap = 0;
}

/* The bytes made of `parts` in order: a part (start, end) with start >= 0 is data[start:end], one with start < 0
   the 8-byte literal literals[-start - 1]. */
static inline PyObject *join_parts(const char *data, const Spans *parts, const char *const *literals) {
    Py_ssize_t total = 0;
    for (Py_ssize_t j = 0; j < parts->len; j++) total += parts->start[j] < 0 ? 8 : parts->end[j] - parts->start[j];
    PyObject *out = PyBytes_FromStringAndSize(NULL, total);
    if (out == NULL) return NULL;
    char *w = PyBytes_AS_STRING(out);
    for (Py_ssize_t j = 0; j < parts->len; j++) {
        Py_ssize_t a = parts->start[j];
        Py_ssize_t len = a < 0 ? 8 : parts->end[j] - a;
        memcpy(w, a < 0 ? literals[-a - 1] : data + a, (size_t)len);
        w += len;
    }
    return out;
}

/* "".join(parts), or "\0".join(parts) when `nul` is set. */
static inline PyObject *join_text(PyObject *parts, int nul) {
    PyObject *glue = nul ? PyUnicode_FromOrdinal(0) : PyUnicode_New(0, 0);
    if (glue == NULL) return NULL;
    PyObject *out = PyUnicode_Join(glue, parts);
    Py_DECREF(glue);
    return out;
}

static inline int xml_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* cut.c: the byte work before parsing */
PyObject *speedups_cut_elements(PyObject *self, PyObject *args, PyObject *kwargs);
PyObject *speedups_has_markup_repairs(PyObject *self, PyObject *arg);
/* mark.c */
PyObject *speedups_mark_citations(PyObject *self, PyObject *arg);
/* text.c: whitespace and Unicode */
void speedups_text_init(void);
PyObject *speedups_squash(PyObject *self, PyObject *arg);
PyObject *speedups_collapse(PyObject *self, PyObject *arg);
PyObject *speedups_squash_pieces(PyObject *self, PyObject *args);
PyObject *speedups_nfc_probe(PyObject *self, PyObject *arg);
PyObject *speedups_nfkc_probe(PyObject *self, PyObject *arg);
PyObject *speedups_nfkc_assemble(PyObject *self, PyObject *args);
/* citations.c */
PyObject *speedups_remove_citation_runs(PyObject *self, PyObject *args);
/* langid.c */
PyObject *speedups_langid_features(PyObject *self, PyObject *args);
/* minhash.c */
PyObject *speedups_shingle_hashes(PyObject *self, PyObject *args);
PyObject *speedups_permutation_minima(PyObject *self, PyObject *args);

#endif
