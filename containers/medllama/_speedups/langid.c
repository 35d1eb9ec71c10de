/* The feature counts of py3langid's classifier (LanguageIdentifier.instance2fv), for ingest's language ID: the
   byte automaton walked in C instead of a Python loop; the counts, and so the classification, are the same. */
#include "speedups.h"

/* langid_features(data, nextmove, offsets, features, num_features) -> bytes: for each byte b of `data`,
   state = nextmove[(state << 8) + b], and every feature index listed for that state (features[offsets[state]:
   offsets[state + 1]]) is counted; the counts as num_features native uint16. nextmove and features are int32
   buffers, offsets int64 (one more than the states); an index or a state out of range is a ValueError. Counts
   wrap at 65536 like py3langid's uint16 array under the pinned numpy 1.26 (its samples never come near). */
PyObject *speedups_langid_features(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer data, next_b, off_b, feat_b;
    Py_ssize_t nfeat;
    if (!PyArg_ParseTuple(args, "y*y*y*y*n:langid_features", &data, &next_b, &off_b, &feat_b, &nfeat)) return NULL;
    PyObject *out = NULL;
    const unsigned char *d = data.buf;
    const int32_t *next = next_b.buf, *feat = feat_b.buf;
    const int64_t *off = off_b.buf;
    Py_ssize_t nnext = next_b.len / 4, nstates = off_b.len / 8 - 1, nfeatures = feat_b.len / 4;
    if (nfeat < 0 || nstates < 1 || next_b.len % 4 || off_b.len % 8 || feat_b.len % 4) {
        PyErr_SetString(PyExc_ValueError, "langid_features(): malformed automaton buffers");
        goto done;
    }
    out = PyBytes_FromStringAndSize(NULL, nfeat * 2);
    if (out == NULL) goto done;
    uint16_t *counts = (uint16_t *)PyBytes_AS_STRING(out);
    memset(counts, 0, (size_t)nfeat * 2);
    int64_t state = 0;
    for (Py_ssize_t i = 0; i < data.len; i++) {
        int64_t k = (state << 8) + d[i];
        if (k >= nnext || next[k] < 0 || next[k] >= nstates) goto range;
        state = next[k];
        for (int64_t j = off[state]; j < off[state + 1]; j++) {
            if (j < 0 || j >= nfeatures || feat[j] < 0 || feat[j] >= nfeat) goto range;
            counts[feat[j]]++;
        }
    }
    goto done;
range:
    PyErr_SetString(PyExc_ValueError, "langid_features(): a state or feature index is out of range");
    Py_CLEAR(out);
done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&next_b);
    PyBuffer_Release(&off_b);
    PyBuffer_Release(&feat_b);
    return out;
}
