/* MinHash: word 5-gram shingle hashes and permutation minima, in the same 64-bit arithmetic as medllama.minhash's
   numpy code (its _shingle_hashes_py and _permutation_minima_py). */
#include "speedups.h"

static uint64_t fmix64(uint64_t x) { /* murmur3's 64-bit finalizer, as minhash._fmix64 */
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDULL;
    x ^= x >> 33;
    x *= 0xC4CEB9FE1A85EC53ULL;
    return x ^ (x >> 33);
}

/* In-place LSD radix sort of 32-bit keys held in uint64 (four passes of 8 bits), `tmp` as long as `v`. */
static void radix_sort32(uint64_t *v, uint64_t *tmp, Py_ssize_t n) {
    for (int shift = 0; shift < 32; shift += 8) {
        Py_ssize_t count[256] = {0};
        for (Py_ssize_t i = 0; i < n; i++) count[(v[i] >> shift) & 0xFF]++;
        Py_ssize_t sum = 0;
        for (int k = 0; k < 256; k++) {
            Py_ssize_t c = count[k];
            count[k] = sum;
            sum += c;
        }
        for (Py_ssize_t i = 0; i < n; i++) tmp[count[(v[i] >> shift) & 0xFF]++] = v[i];
        memcpy(v, tmp, (size_t)n * sizeof *v);
    }
}

/* shingle_hashes(normalized, pos) -> bytes: minhash.shingle_hashes for a text of at least len(pos) words: each
   word's UTF-8 bytes hashed as sum(byte_j * B**(len-1-j)) mod 2**64 (Horner's rule; B = 0x100000001B3), each
   run of len(pos) words combined as fmix64(sum(word_k * pos[k])) >> 32, the distinct values sorted, as native
   uint64. */
PyObject *speedups_shingle_hashes(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *text;
    Py_buffer posb;
    if (!PyArg_ParseTuple(args, "Uy*:shingle_hashes", &text, &posb)) return NULL;
    PyObject *out = NULL;
    uint64_t *words = NULL, *keys = NULL, *tmp = NULL;
    Py_ssize_t len, ngram = posb.len / 8;
    const char *u = PyUnicode_AsUTF8AndSize(text, &len);
    if (u == NULL) goto done;
    Py_ssize_t nwords = 1;
    for (const char *p = memchr(u, ' ', (size_t)len); p; p = memchr(p + 1, ' ', (size_t)(u + len - p - 1))) nwords++;
    if (posb.len % 8 || ngram < 1 || nwords < ngram) {
        PyErr_Format(PyExc_ValueError, "shingle_hashes() wants a text of at least %zd words, got %zd", ngram, nwords);
        goto done;
    }
    Py_ssize_t n = nwords - ngram + 1;
    words = PyMem_Malloc((size_t)nwords * sizeof *words);
    keys = PyMem_Malloc((size_t)n * sizeof *keys);
    tmp = PyMem_Malloc((size_t)n * sizeof *tmp);
    if (words == NULL || keys == NULL || tmp == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    uint64_t h = 0;
    Py_ssize_t w = 0;
    for (Py_ssize_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)u[i];
        if (c == ' ') {
            words[w++] = h;
            h = 0;
        } else {
            h = h * 0x100000001B3ULL + c;
        }
    }
    words[w] = h;
    const uint64_t *pos = posb.buf;
    for (Py_ssize_t k = 0; k < n; k++) {
        uint64_t acc = 0;
        for (Py_ssize_t j = 0; j < ngram; j++) acc += words[k + j] * pos[j];
        keys[k] = fmix64(acc) >> 32;
    }
    radix_sort32(keys, tmp, n);
    Py_ssize_t distinct = 0;
    for (Py_ssize_t k = 0; k < n; k++)
        if (k == 0 || keys[k] != keys[distinct - 1]) keys[distinct++] = keys[k];
    out = PyBytes_FromStringAndSize((const char *)keys, distinct * (Py_ssize_t)sizeof *keys);
done:
    PyMem_Free(words);
    PyMem_Free(keys);
    PyMem_Free(tmp);
    PyBuffer_Release(&posb);
    return out;
}

/* permutation_minima(shingles, a, b) -> bytes: for each permutation i, min over the shingles x of
   a[i] * x + b[i] (uint64, wrapping), as len(a) native uint64 values (minhash._permutation_minima_py). All
   three are buffers of native uint64 (numpy arrays); a and b have the same length. */
PyObject *speedups_permutation_minima(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer xs, as, bs;
    if (!PyArg_ParseTuple(args, "y*y*y*:permutation_minima", &xs, &as, &bs)) return NULL;
    PyObject *out = NULL;
    if (xs.len % 8 || as.len % 8 || as.len != bs.len) {
        PyErr_Format(PyExc_ValueError, "permutation_minima() wants uint64 buffers, a and b of one length (got %zd, %zd, %zd bytes)",
                     xs.len, as.len, bs.len);
        goto done;
    }
    Py_ssize_t n = xs.len / 8, m = as.len / 8;
    out = PyBytes_FromStringAndSize(NULL, as.len);
    if (out == NULL) goto done;
    uint64_t *mins = (uint64_t *)PyBytes_AS_STRING(out);
    const uint64_t *x = xs.buf, *a = as.buf, *b = bs.buf;
    for (Py_ssize_t i = 0; i < m; i++) mins[i] = UINT64_MAX;
    for (Py_ssize_t k = 0; k < n; k++) {
        uint64_t v = x[k];
        for (Py_ssize_t i = 0; i < m; i++) {
            uint64_t h = a[i] * v + b[i];
            mins[i] = h < mins[i] ? h : mins[i];
        }
    }
done:
    PyBuffer_Release(&xs);
    PyBuffer_Release(&as);
    PyBuffer_Release(&bs);
    return out;
}
