/* Whitespace and Unicode: text.squash / squash_pieces and minhash's collapse (equal to " ".join(text.split())),
   the probe behind text.nfc, and NFKC in pieces for minhash. */
#include "speedups.h"

static int zero_width(Py_UCS4 c) { return c == 0x200B || c == 0xFEFF || c == 0x00AD || c == 0x2060; }

static unsigned char ascii_space[128]; /* Py_UNICODE_ISSPACE for ASCII */

void speedups_text_init(void) {
    for (int c = 0; c < 128; c++) ascii_space[c] = (unsigned char)Py_UNICODE_ISSPACE(c);
}

/* One character of the collapse. Spaces are written as they come (never at the start, never two in a row) and a
   trailing one is taken back at the end: the result is " ".join(text.split()) of the text without zero-width
   characters. */
#define SQUASH_CHAR(c)                                                                                            \
    if ((c) < 128 ? ascii_space[(c)] : (!(drop_zw && zero_width(c)) && Py_UNICODE_ISSPACE(c))) {                  \
        if (w > 0 && !last_space) {                                                                               \
            dst[w++] = ' ';                                                                                       \
            last_space = 1;                                                                                       \
        }                                                                                                         \
    } else if ((c) < 128 || !(drop_zw && zero_width(c))) {                                                        \
        dst[w++] = (c);                                                                                           \
        last_space = 0;                                                                                           \
    }

/* Word-at-a-time shortcut (8 bytes: 8 one-byte or 4 two-byte characters), little-endian only. A word of printable
   ASCII and single spaces is copied as it is, which is what SQUASH_CHAR would write, unless it starts with a
   space that would be dropped (start of text, or after a space). `spaces` gets the top bit of each space lane.
   All masks are exact: lanes are added only below their top bit, so no carry crosses a lane. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define WORD_SHORTCUT 1
static inline int plain_word1(uint64_t v, uint64_t *spaces) {
    const uint64_t low7 = 0x7F7F7F7F7F7F7F7FULL, top = 0x8080808080808080ULL;
    uint64_t control = ~(((v & low7) + 0x6060606060606060ULL) | v) & top; /* bytes below 0x20 */
    uint64_t x = v ^ 0x2020202020202020ULL;
    *spaces = ~(((x & low7) + low7) | x) & top;
    return !((v & top) | control | (*spaces & (*spaces << 8)));
}
static inline int plain_word2(uint64_t v, uint64_t *spaces) {
    const uint64_t low7 = 0x007F007F007F007FULL, low15 = 0x7FFF7FFF7FFF7FFFULL;
    if (v & 0xFF80FF80FF80FF80ULL) return 0; /* a character >= 0x80 */
    uint64_t control = ~((v & low7) + 0x0060006000600060ULL) & 0x0080008000800080ULL;
    uint64_t x = v ^ 0x0020002000200020ULL;
    *spaces = ~(((x & low15) + low15) | x) & 0x8000800080008000ULL;
    return !(control | (*spaces & (*spaces << 16)));
}
#else
#define WORD_SHORTCUT 0
static inline int plain_word1(uint64_t v, uint64_t *spaces) { (void)v, (void)spaces; return 0; }
static inline int plain_word2(uint64_t v, uint64_t *spaces) { (void)v, (void)spaces; return 0; }
#endif

#define SQUASH_LOOP(T, PLAIN, FIRST_LANE)                                                                         \
    {                                                                                                             \
        const T *src = (const T *)PyUnicode_DATA(arg) + start;                                                    \
        T *dst = (T *)buf;                                                                                        \
        const Py_ssize_t per_word = 8 / (Py_ssize_t)sizeof(T);                                                    \
        Py_ssize_t i = 0;                                                                                         \
        while (i < n) {                                                                                           \
            if (WORD_SHORTCUT && sizeof(T) < 4 && i + per_word <= n) {                                            \
                uint64_t v, spaces;                                                                               \
                memcpy(&v, src + i, 8);                                                                           \
                if (PLAIN(v, &spaces) && !((spaces & (FIRST_LANE)) && (w == 0 || last_space))) {                 \
                    memcpy(dst + w, src + i, 8);                                                                  \
                    w += per_word;                                                                                \
                    i += per_word;                                                                                \
                    last_space = (int)(spaces >> 63);                                                             \
                    continue;                                                                                     \
                }                                                                                                 \
            }                                                                                                     \
            for (Py_ssize_t stop = i + per_word < n ? i + per_word : n; i < stop; i++) {                          \
                Py_UCS4 c = src[i];                                                                               \
                SQUASH_CHAR(c)                                                                                    \
            }                                                                                                     \
        }                                                                                                         \
    }

/* squash(text[start:end]) as a new string (`text` itself when that is the whole of it and already clean); with
   `drop_zw` 0, zero-width characters are kept (" ".join(text.split()) exactly). */
static PyObject *squash_range(PyObject *arg, Py_ssize_t start, Py_ssize_t end, int drop_zw) {
    Py_ssize_t n = end - start, w = 0;
    int kind = PyUnicode_KIND(arg);
    void *buf = PyMem_Malloc((size_t)(n ? n : 1) * (size_t)kind);
    if (buf == NULL) return PyErr_NoMemory();
    int last_space = 0; /* the last character written is a space */
    if (kind == PyUnicode_1BYTE_KIND)
        SQUASH_LOOP(Py_UCS1, plain_word1, 0x80ULL)
    else if (kind == PyUnicode_2BYTE_KIND)
        SQUASH_LOOP(Py_UCS2, plain_word2, 0x8000ULL)
    else
        SQUASH_LOOP(Py_UCS4, plain_word2, 0ULL)
    if (last_space) w--;
    PyObject *out;
    if (start == 0 && n == PyUnicode_GET_LENGTH(arg) && w == n && memcmp(buf, PyUnicode_DATA(arg), (size_t)n * (size_t)kind) == 0)
        out = Py_NewRef(arg); /* already clean (most titles and labels) */
    else
        out = PyUnicode_FromKindAndData(kind, (char *)buf, w);
    PyMem_Free(buf);
    return out;
}

static PyObject *squash_text(PyObject *arg, const char *name, int drop_zw) {
    if (!PyUnicode_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "%s() expects str, got %.100s", name, Py_TYPE(arg)->tp_name);
        return NULL;
    }
    return squash_range(arg, 0, PyUnicode_GET_LENGTH(arg), drop_zw);
}

/* text.squash: zero-width characters removed, then " ".join(text.split()). */
PyObject *speedups_squash(PyObject *self, PyObject *arg) {
    (void)self;
    return squash_text(arg, "squash", 1);
}

/* collapse(text) -> str: " ".join(text.split()) (squash without removing zero-width characters). */
PyObject *speedups_collapse(PyObject *self, PyObject *arg) {
    (void)self;
    return squash_text(arg, "collapse", 0);
}

/* squash_pieces(text, sep) -> list: [squash(piece) for piece in text.split(sep)], `sep` one character. */
PyObject *speedups_squash_pieces(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *text, *sep;
    if (!PyArg_ParseTuple(args, "UU:squash_pieces", &text, &sep)) return NULL;
    if (PyUnicode_GET_LENGTH(sep) != 1) {
        PyErr_Format(PyExc_ValueError, "squash_pieces() separator must be one character, got %R", sep);
        return NULL;
    }
    Py_UCS4 ch = PyUnicode_READ_CHAR(sep, 0);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), start = 0;
    PyObject *out = PyList_New(0);
    if (out == NULL) return NULL;
    for (;;) {
        Py_ssize_t at = PyUnicode_FindChar(text, ch, start, n, 1);
        if (at == -2) goto error;
        Py_ssize_t end = at < 0 ? n : at;
        PyObject *piece = squash_range(text, start, end, 1);
        if (piece == NULL || PyList_Append(out, piece) < 0) {
            Py_XDECREF(piece);
            goto error;
        }
        Py_DECREF(piece);
        if (at < 0) return out;
        start = at + 1;
    }
error:
    Py_DECREF(out);
    return NULL;
}

/* Index of the first character >= U+0300 in src[i:n] (n when none). Two-byte text goes 4 characters at a time
   while they are all below U+0100 (nearly all of an article). */
static Py_ssize_t next_high(int kind, const void *src, Py_ssize_t i, Py_ssize_t n) {
    if (kind == PyUnicode_2BYTE_KIND) {
        const Py_UCS2 *s = src;
        for (; i + 4 <= n; i += 4) {
            uint64_t v;
            memcpy(&v, s + i, 8);
            if (v & 0xFF00FF00FF00FF00ULL) break;
        }
        for (; i < n && s[i] < 0x300; i++) {
        }
        return i;
    }
    const Py_UCS4 *s = src;
    for (; i < n && s[i] < 0x300; i++) {
    }
    return i;
}

/* text.nfc: a shorter string that is NFC exactly when `text` is, or None when `text` is NFC for sure.
 *
 * Every character below U+0300 is a starter (combining class 0), is unchanged by NFC and is never the second
 * half of a canonical composition (test_speedups checks these facts against unicodedata). So NFC never acts
 * across such a character: the text splits before each of them into pieces that normalize independently, and
 * the text is NFC exactly when every piece holding a character >= U+0300 is. The probe is those pieces (each a
 * run of characters >= U+0300 with the one character before it) put end to end, which splits the same way. */
PyObject *speedups_nfc_probe(PyObject *self, PyObject *arg) {
    (void)self;
    if (!PyUnicode_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "nfc_probe() expects str, got %.100s", Py_TYPE(arg)->tp_name);
        return NULL;
    }
    int kind = PyUnicode_KIND(arg);
    if (kind == PyUnicode_1BYTE_KIND) Py_RETURN_NONE;
    const void *src = PyUnicode_DATA(arg);
    Py_ssize_t n = PyUnicode_GET_LENGTH(arg), total = 0;
    for (int pass = 0; pass < 2; pass++) { /* pass 0 measures, pass 1 copies */
        char *buf = NULL;
        if (pass == 1) {
            if (total == 0) Py_RETURN_NONE;
            buf = PyMem_Malloc((size_t)total * (size_t)kind);
            if (buf == NULL) return PyErr_NoMemory();
        }
        Py_ssize_t w = 0, i = next_high(kind, src, 0, n);
        while (i < n) {
            Py_ssize_t start = i > 0 ? i - 1 : 0;
            while (i < n && PyUnicode_READ(kind, src, i) >= 0x300) i++;
            if (pass == 1) memcpy(buf + w * kind, (const char *)src + start * kind, (size_t)(i - start) * kind);
            w += i - start;
            i = next_high(kind, src, i, n);
        }
        if (pass == 0) {
            total = w;
        } else {
            PyObject *out = PyUnicode_FromKindAndData(kind, buf, w);
            PyMem_Free(buf);
            return out;
        }
    }
    Py_RETURN_NONE; /* not reached */
}

/* ---------------------------------------------------------------- NFKC in pieces (minhash.normalize_for_hash) */

/* An ASCII character is a starter that NFKC leaves alone and never the second half of a composition, so NFKC
   never acts across one: a text splits before each ASCII character into pieces that normalize independently.
   The windows are the runs of non-ASCII characters, each with the character before it (it may compose with
   them). They are appended to `windows`; -1 when memory runs out. */
/* Index of the first non-ASCII character in src[i:n] (n when none), 8 bytes at a time while they are ASCII. */
static Py_ssize_t next_non_ascii(int kind, const void *src, Py_ssize_t i, Py_ssize_t n) {
    const uint64_t mask = kind == PyUnicode_1BYTE_KIND ? 0x8080808080808080ULL : 0xFF80FF80FF80FF80ULL;
    Py_ssize_t per_word = 8 / kind;
    if (kind < PyUnicode_4BYTE_KIND) {
        for (; i + per_word <= n; i += per_word) {
            uint64_t v;
            memcpy(&v, (const char *)src + i * kind, 8);
            if (v & mask) break;
        }
    }
    while (i < n && PyUnicode_READ(kind, src, i) < 128) i++;
    return i;
}

static int nfkc_windows(PyObject *text, Spans *windows) {
    int kind = PyUnicode_KIND(text);
    const void *d = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), i = 0;
    while ((i = next_non_ascii(kind, d, i, n)) < n) {
        Py_ssize_t start = i > 0 ? i - 1 : 0;
        while (i < n && PyUnicode_READ(kind, d, i) >= 128) i++;
        if (spans_push(windows, start, i) < 0) return -1;
    }
    return 0;
}

/* nfkc_probe(text) -> str | None: the windows joined by NUL, or None when the text is ASCII (NFKC already). The
   text must hold no NUL itself (minhash.normalize_for_hash checks). */
PyObject *speedups_nfkc_probe(PyObject *self, PyObject *arg) {
    (void)self;
    if (!PyUnicode_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "nfkc_probe() expects str, got %.100s", Py_TYPE(arg)->tp_name);
        return NULL;
    }
    if (PyUnicode_IS_ASCII(arg)) Py_RETURN_NONE;
    Spans windows = {0};
    PyObject *pieces = NULL, *out = NULL;
    if (nfkc_windows(arg, &windows) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    pieces = PyList_New(windows.len);
    if (pieces == NULL) goto done;
    for (Py_ssize_t k = 0; k < windows.len; k++) {
        PyObject *piece = PyUnicode_Substring(arg, windows.start[k], windows.end[k]);
        if (piece == NULL) goto done;
        PyList_SET_ITEM(pieces, k, piece);
    }
    out = join_text(pieces, 1);
done:
    Py_XDECREF(pieces);
    spans_free(&windows);
    return out;
}

/* nfkc_assemble(text, normalized) -> str: `text` with its k-th window replaced by normalized[k] (the NFKC of
   the probe split at NUL): the NFKC of the whole text. */
PyObject *speedups_nfkc_assemble(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *text, *normalized;
    if (!PyArg_ParseTuple(args, "UO!:nfkc_assemble", &text, &PyList_Type, &normalized)) return NULL;
    Spans windows = {0};
    PyObject *parts = NULL, *out = NULL;
    if (nfkc_windows(text, &windows) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    if (PyList_GET_SIZE(normalized) != windows.len) {
        PyErr_Format(PyExc_ValueError, "nfkc_assemble(): %zd windows but %zd normalized pieces", windows.len,
                     PyList_GET_SIZE(normalized));
        goto done;
    }
    parts = PyList_New(0);
    if (parts == NULL) goto done;
    Py_ssize_t pos = 0;
    for (Py_ssize_t k = 0; k <= windows.len; k++) {
        Py_ssize_t start = k < windows.len ? windows.start[k] : PyUnicode_GET_LENGTH(text);
        PyObject *kept = PyUnicode_Substring(text, pos, start);
        if (kept == NULL || PyList_Append(parts, kept) < 0) {
            Py_XDECREF(kept);
            goto done;
        }
        Py_DECREF(kept);
        if (k < windows.len) {
            PyObject *piece = PyList_GET_ITEM(normalized, k);
            if (!PyUnicode_Check(piece)) {
                PyErr_SetString(PyExc_TypeError, "nfkc_assemble(): normalized pieces must be str");
                goto done;
            }
            if (PyList_Append(parts, piece) < 0) goto done;
            pos = windows.end[k];
        }
    }
    out = join_text(parts, 0);
done:
    Py_XDECREF(parts);
    spans_free(&windows);
    return out;
}
