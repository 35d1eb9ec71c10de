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
 *   remove_citation_runs (text._remove_citations)      the citation loop; undecided runs go to text._general
 *   mark_citations      (safety.parse)                 plain bibliography xrefs in the body become markers
 *   shingle_hashes      = minhash.shingle_hashes_py    word 5-gram shingle hashes, distinct and sorted
 *   permutation_minima  = minhash._permutation_minima_py   the MinHash minimum of every permutation
 *
 * Built by `python -m medllama.speedups` for the running interpreter (-O2, its headers).
 */
#define PY_SSIZE_T_CLEAN
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, memrchr */
#endif
#include <Python.h>
#include <stdint.h>
#include <string.h>

#ifndef SPEEDUPS_SOURCE_SHA256
#define SPEEDUPS_SOURCE_SHA256 "unknown"
#endif

/* ---------------------------------------------------------------- byte search (bytes.find / rfind) */

/* data.find(needle, start, end) for 0 <= start; -1 when absent. */
static Py_ssize_t find(const char *data, Py_ssize_t start, Py_ssize_t end, const char *needle, Py_ssize_t n) {
    if (start < 0) start = 0;
    if (end - start < n) return -1;
    const char *at = memmem(data + start, (size_t)(end - start), needle, (size_t)n);
    return at ? at - data : -1;
}

/* data.rfind(needle, 0, end): the needle's first byte found backwards with memrchr, the rest compared. */
static Py_ssize_t rfind(const char *data, Py_ssize_t end, const char *needle, Py_ssize_t n) {
    Py_ssize_t limit = end - n + 1; /* a match starts before this */
    while (limit > 0) {
        const char *at = memrchr(data, needle[0], (size_t)limit);
        if (at == NULL) return -1;
        if (memcmp(at, needle, (size_t)n) == 0) return at - data;
        limit = at - data;
    }
    return -1;
}

static int tag_end(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '>' || c == '/'; }

/* safety._find_open: the next "<name" start tag in data[start:end] ("<name-wrap" and the like do not count). */
static Py_ssize_t find_open(const char *data, Py_ssize_t size, const char *open, Py_ssize_t n, Py_ssize_t start,
                            Py_ssize_t end) {
    Py_ssize_t at = find(data, start, end, open, n);
    while (at >= 0 && (at + n >= size || !tag_end(data[at + n]))) at = find(data, at + n, end, open, n);
    return at;
}

typedef struct {
    Py_ssize_t *start, *end;
    Py_ssize_t len, cap;
} Spans;

static int spans_push(Spans *s, Py_ssize_t start, Py_ssize_t end) {
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

static void spans_free(Spans *s) {
    PyMem_Free(s->start);
    PyMem_Free(s->end);
    s->start = s->end = NULL;
    s->len = s->cap = 0;
}

enum { SPANS_OK = 0, SPANS_UNBALANCED = 1, SPANS_NOMEM = -1 };

/* safety.element_spans: every outermost <name ...>...</name> starting in data[start:end], appended to `out`. */
static int element_spans(const char *data, Py_ssize_t size, const char *name, Py_ssize_t start, Py_ssize_t end,
                         Spans *out) {
    char open[64], close[64];
    Py_ssize_t k = (Py_ssize_t)strlen(name);
    Py_ssize_t no = k + 1, nc = k + 3;
    open[0] = '<';
    memcpy(open + 1, name, (size_t)k);
    close[0] = '<';
    close[1] = '/';
    memcpy(close + 2, name, (size_t)k);
    close[k + 2] = '>';
    Py_ssize_t at = find_open(data, size, open, no, start, end);
    while (at >= 0) {
        Py_ssize_t gt = find(data, at, size, ">", 1);
        if (gt < 0) return SPANS_UNBALANCED;
        if (data[gt - 1] == '/') { /* <name .../>: nothing inside */
            at = find_open(data, size, open, no, gt, end);
            continue;
        }
        Py_ssize_t depth = 1, scan = gt + 1;
        Py_ssize_t cl = find(data, scan, size, close, nc);
        while (depth) {
            if (cl < 0) return SPANS_UNBALANCED;
            Py_ssize_t nested = find_open(data, size, open, no, scan, cl);
            if (nested >= 0) {
                depth++;
                scan = nested + no;
            } else {
                depth--;
                scan = cl + nc;
                if (depth) cl = find(data, scan, size, close, nc);
            }
        }
        if (spans_push(out, at, scan) < 0) return SPANS_NOMEM;
        at = find_open(data, size, open, no, scan, end);
    }
    return SPANS_OK;
}

/* safety._ref_lists: element_spans(data, "ref-list") with the one-list-near-the-end shortcut. */
static int ref_lists(const char *data, Py_ssize_t size, Spans *out) {
    static const char close_tag[] = "</ref-list>";
    Py_ssize_t cl = rfind(data, size, close_tag, 11);
    if (cl < 0) return SPANS_OK;
    Py_ssize_t first = find_open(data, size, "<ref-list", 9, 0, cl);
    if (first < 0) return SPANS_OK;
    Py_ssize_t gt = find(data, first, cl, ">", 1);
    if (gt > 0 && data[gt - 1] != '/' && find(data, first, cl, close_tag, 11) < 0) return spans_push(out, first, cl + 11);
    int rc = element_spans(data, size, "ref-list", 0, size, out);
    if (rc == SPANS_UNBALANCED) out->len = 0; /* `element_spans(...) or []` */
    return rc == SPANS_NOMEM ? SPANS_NOMEM : SPANS_OK;
}

static Py_ssize_t count(const char *data, Py_ssize_t start, Py_ssize_t end, const char *needle, Py_ssize_t n) {
    Py_ssize_t c = 0, at = find(data, start, end, needle, n);
    while (at >= 0) {
        c++;
        at = find(data, at + n, end, needle, n);
    }
    return c;
}

/* safety.cut_elements(data, tables=...) -> (bytes, counts). Same structure as the Python twin, line for line. */
static PyObject *cut_elements(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static char *kwlist[] = {"data", "tables", NULL};
    Py_buffer view;
    int tables = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*|$p:cut_elements", kwlist, &view, &tables)) return NULL;
    PyObject *data_obj = PyTuple_GET_SIZE(args) ? PyTuple_GET_ITEM(args, 0) : PyDict_GetItemString(kwargs, "data");
    const char *data = view.buf;
    Py_ssize_t size = view.len;
    Spans refs = {0}, found = {0}, parts = {0}; /* parts: (start, end) of kept slices; start < 0 marks "<table/>" */
    PyObject *counts = NULL, *out = NULL, *result = NULL;
    if (ref_lists(data, size, &refs) < 0) goto nomem;
    counts = PyDict_New();
    if (counts == NULL) goto done;
    if (refs.len) {
        Py_ssize_t n = 0;
        for (Py_ssize_t i = 0; i < refs.len; i++) n += count(data, refs.start[i], refs.end[i], "</ref>", 6);
        PyObject *v = PyLong_FromSsize_t(n);
        if (v == NULL || PyDict_SetItemString(counts, "references", v) < 0) {
            Py_XDECREF(v);
            goto done;
        }
        Py_DECREF(v);
    }
    Py_ssize_t pos = 0, total = 0;
    for (Py_ssize_t i = 0; i <= refs.len; i++) {
        Py_ssize_t ref_start = i < refs.len ? refs.start[i] : size, ref_end = i < refs.len ? refs.end[i] : size;
        int ok = 0;
        found.len = 0;
        if (tables) {
            int rc = element_spans(data, size, "table", pos, ref_start, &found);
            if (rc == SPANS_NOMEM) goto nomem;
            ok = rc == SPANS_OK;
        }
        tables = ok;
        for (Py_ssize_t j = 0; ok && j < found.len; j++) {
            if (spans_push(&parts, pos, found.start[j]) < 0 || spans_push(&parts, -1, -1) < 0) goto nomem;
            total += found.start[j] - pos + 8;
            pos = found.end[j];
        }
        if (pos <= ref_start) {
            if (spans_push(&parts, pos, ref_start) < 0) goto nomem;
            total += ref_start - pos;
            pos = ref_end;
        }
    }
    if (parts.len == 1) {
        Py_INCREF(data_obj);
        out = data_obj;
    } else {
        out = PyBytes_FromStringAndSize(NULL, total);
        if (out == NULL) goto done;
        char *w = PyBytes_AS_STRING(out);
        for (Py_ssize_t j = 0; j < parts.len; j++) {
            if (parts.start[j] < 0) {
                memcpy(w, "<table/>", 8);
                w += 8;
            } else {
                memcpy(w, data + parts.start[j], (size_t)(parts.end[j] - parts.start[j]));
                w += parts.end[j] - parts.start[j];
            }
        }
    }
    result = PyTuple_Pack(2, out, counts);
    goto done;
nomem:
    PyErr_NoMemory();
done:
    Py_XDECREF(out);
    Py_XDECREF(counts);
    spans_free(&refs);
    spans_free(&found);
    spans_free(&parts);
    PyBuffer_Release(&view);
    return result;
}

/* ---------------------------------------------------------------- bibliography xrefs as markers */

static int xml_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* Whether d[a:b] is UTF-8 made of XML 1.0 characters (tab, LF, CR, U+0020-U+D7FF, U+E000-U+FFFD, U+10000-). */
static int xml_chars(const unsigned char *d, Py_ssize_t a, Py_ssize_t b) {
    for (Py_ssize_t k = a; k < b;) {
        unsigned c = d[k];
        if (c < 0x80) {
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return 0;
            k++;
            continue;
        }
        int len = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        if (len == 0 || k + len > b) return 0;
        Py_UCS4 cp = c & (0x7F >> len);
        for (int j = 1; j < len; j++) {
            if ((d[k + j] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (d[k + j] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return 0;
        if ((cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF) return 0;
        k += len;
    }
    return 1;
}

static int name_start_char(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
static int name_char(char c) { return name_start_char(c) || (c >= '0' && c <= '9') || c == '-' || c == '.'; }

/* Whether the XML declaration at the start (if any) leaves the document in UTF-8. */
static int declared_utf8(const char *d, Py_ssize_t n) {
    if (n < 5 || memcmp(d, "<?xml", 5) != 0) return 1;
    Py_ssize_t end = find(d, 0, n < 512 ? n : 512, "?>", 2);
    if (end < 0) return 0;
    Py_ssize_t at = find(d, 0, end, "encoding", 8);
    if (at < 0) return 1;
    at += 8;
    while (at < end && (xml_space(d[at]) || d[at] == '=')) at++;
    if (at >= end || (d[at] != '"' && d[at] != '\'')) return 0;
    Py_ssize_t v = at + 1, e = v;
    while (e < end && d[e] != d[at]) e++;
    return (e - v == 5 && PyOS_strnicmp(d + v, "utf-8", 5) == 0) || (e - v == 4 && PyOS_strnicmp(d + v, "utf8", 4) == 0);
}

#define MARK_MAX_DEPTH 240 /* libxml2 refuses 256 levels: an xref this deep is left to it */
#define MARK_MAX_TAG 1024  /* a longer tag or label is left to the parser (its length limits) */

/* The start tag "<xref ...>" at `at`: its end (after '>'), when its attributes are plain (XML names of ASCII
   letters, digits, "-", "." and "_", each once, = and a quoted value of XML characters without '<', '>' or '&')
   and one is ref-type="bibr"; else -1. *empty is set for "<xref .../>". */
static Py_ssize_t bibr_start_tag(const char *d, Py_ssize_t n, Py_ssize_t at, int *empty) {
    Py_ssize_t i = at + 5, limit = at + MARK_MAX_TAG < n ? at + MARK_MAX_TAG : n; /* i: after "<xref" */
    Py_ssize_t names[16], name_len[16];
    int count = 0, bibr = 0;
    for (;;) { /* at i: whitespace then an attribute, or the end of the tag */
        Py_ssize_t space = i;
        while (i < limit && xml_space(d[i])) i++;
        if (i < limit && d[i] == '>') {
            *empty = 0;
            return bibr ? i + 1 : -1;
        }
        if (i + 1 < limit && d[i] == '/' && d[i + 1] == '>') {
            *empty = 1;
            return bibr ? i + 2 : -1;
        }
        if (i == space || i >= limit || !name_start_char(d[i]) || count == 16) return -1;
        Py_ssize_t name = i;
        while (i < limit && name_char(d[i])) i++;
        Py_ssize_t len = i - name;
        for (int k = 0; k < count; k++)
            if (name_len[k] == len && memcmp(d + names[k], d + name, (size_t)len) == 0) return -1; /* duplicate */
        names[count] = name;
        name_len[count++] = len;
        while (i < limit && xml_space(d[i])) i++;
        if (i >= limit || d[i] != '=') return -1;
        i++;
        while (i < limit && xml_space(d[i])) i++;
        if (i >= limit || (d[i] != '"' && d[i] != '\'')) return -1;
        char quote = d[i++];
        Py_ssize_t value = i;
        while (i < limit && d[i] != quote) {
            if (d[i] == '<' || d[i] == '>' || d[i] == '&') return -1;
            i++;
        }
        if (i >= limit || !xml_chars((const unsigned char *)d, value, i)) return -1;
        if (len == 8 && memcmp(d + name, "ref-type", 8) == 0) {
            bibr = i - value == 4 && memcmp(d + value, "bibr", 4) == 0;
            if (!bibr) return -1;
        }
        i++; /* the closing quote */
    }
}

static int has_two_letters(const char *d, Py_ssize_t a, Py_ssize_t b) {
    for (Py_ssize_t k = a; k + 1 < b; k++) {
        char x = d[k], y = d[k + 1];
        if (((x >= 'A' && x <= 'Z') || (x >= 'a' && x <= 'z')) && ((y >= 'A' && y <= 'Z') || (y >= 'a' && y <= 'z')))
            return 1;
    }
    return 0;
}

/* End of the start tag at `at` (after '>'), quoted values skipped; -1 when there is none. */
static Py_ssize_t tag_end_at(const char *d, Py_ssize_t n, Py_ssize_t k) {
    for (;;) {
        const char *gt = memchr(d + k, '>', (size_t)(n - k));
        if (gt == NULL) return -1;
        const char *q1 = memchr(d + k, '"', (size_t)(gt - d - k)), *q2 = memchr(d + k, '\'', (size_t)(gt - d - k));
        const char *q = q1 && (!q2 || q1 < q2) ? q1 : q2;
        if (q == NULL) return gt - d + 1;
        const char *close = memchr(q + 1, *q, (size_t)(n - (q + 1 - d)));
        if (close == NULL) return -1;
        k = close + 1 - d;
    }
}

/* mark_citations(data) -> bytes: each bibliography xref in a <body> whose label is plain text,
   <xref ... ref-type="bibr" ...>label</xref>, replaced by the character references of the marker that
   jats._Walker.prepare would give it: &#xE005; for a numeric citation (no two ASCII letters in a row in the
   label), &#xE006;label&#xE007; for an author-year one. The walker's output is the same either way (test_speedups
   compares whole articles), with fewer elements to parse and walk.
   The document is read as XML tokens (comments, processing instructions, declarations, tags with quoted values,
   text), so only xrefs in element content are replaced. Anything unusual is left to the parser: an xref with
   markup, entities, '>' or nothing but whitespace in its label, other attributes than plain ones, a non-UTF-8
   document, an internal DTD subset, a CDATA section, nesting near libxml2's depth limit, a token that does not
   end. Returns `data` itself when nothing is replaced. */
static PyObject *mark_citations(PyObject *self, PyObject *arg) {
    (void)self;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    const char *d = view.buf;
    Py_ssize_t n = view.len;
    Spans keep = {0}; /* kept slices; start < 0: a marker (-1 numeric, -2 author-year opener, -3 its closer) */
    PyObject *out = NULL;
    Py_ssize_t total = 0, pos = 0, i = 0, depth = 0, body_at = -1; /* body_at: depth outside the open <body> */
    if (!declared_utf8(d, n)) goto unchanged;
    for (;;) {
        const char *lt = memchr(d + i, '<', (size_t)(n - i));
        if (lt == NULL) break;
        i = lt - d;
        if (i + 1 >= n) goto unchanged;
        char c = d[i + 1];
        if (c == '!') {
            if (i + 4 <= n && memcmp(d + i, "<!--", 4) == 0) {
                Py_ssize_t e = find(d, i + 4, n, "-->", 3);
                if (e < 0) goto unchanged;
                i = e + 3;
                continue;
            }
            if (depth > 0) goto unchanged; /* CDATA section, or a declaration inside an element */
            Py_ssize_t e = tag_end_at(d, n, i + 2);
            if (e < 0 || memchr(d + i, '[', (size_t)(e - i)) != NULL) goto unchanged; /* an internal subset */
            i = e;
            continue;
        }
        if (c == '?') {
            Py_ssize_t e = find(d, i + 2, n, "?>", 2);
            if (e < 0) goto unchanged;
            i = e + 2;
            continue;
        }
        if (c == '/') { /* an end tag */
            const char *gt = memchr(d + i, '>', (size_t)(n - i));
            if (gt == NULL || --depth < 0) goto unchanged;
            if (depth == body_at && gt - d - i >= 6 && memcmp(d + i + 2, "body", 4) == 0 &&
                (d[i + 6] == '>' || xml_space(d[i + 6])))
                body_at = -1;
            i = gt - d + 1;
            continue;
        }
        if (!name_start_char(c) && c != ':') goto unchanged;
        if (body_at >= 0 && depth < MARK_MAX_DEPTH && i + 5 < n && memcmp(d + i + 1, "xref", 4) == 0 &&
            xml_space(d[i + 5])) {
            int empty = 0;
            Py_ssize_t body = bibr_start_tag(d, n, i, &empty), label_end = body;
            if (body >= 0 && !empty) {
                Py_ssize_t limit = body + MARK_MAX_TAG < n ? body + MARK_MAX_TAG : n;
                int blank = 1;
                while (label_end < limit && d[label_end] != '<' && d[label_end] != '>' && d[label_end] != '&') {
                    blank &= xml_space(d[label_end]);
                    label_end++;
                }
                if (!blank && label_end + 7 <= n && memcmp(d + label_end, "</xref>", 7) == 0 &&
                    xml_chars((const unsigned char *)d, body, label_end)) {
                    if (spans_push(&keep, pos, i) < 0) goto nomem;
                    total += i - pos;
                    if (has_two_letters(d, body, label_end)) {
                        if (spans_push(&keep, -2, -2) < 0 || spans_push(&keep, body, label_end) < 0 ||
                            spans_push(&keep, -3, -3) < 0)
                            goto nomem;
                        total += 16 + label_end - body;
                    } else {
                        if (spans_push(&keep, -1, -1) < 0) goto nomem;
                        total += 8;
                    }
                    pos = i = label_end + 7;
                    continue;
                }
            }
        }
        Py_ssize_t e = tag_end_at(d, n, i + 1); /* any other start tag */
        if (e < 0) goto unchanged;
        if (d[e - 2] != '/') {
            if (body_at < 0 && e - i >= 6 && memcmp(d + i + 1, "body", 4) == 0 && (d[i + 5] == '>' || xml_space(d[i + 5])))
                body_at = depth;
            depth++;
        }
        i = e;
    }
    if (keep.len == 0) goto unchanged;
    if (spans_push(&keep, pos, n) < 0) goto nomem;
    total += n - pos;
    out = PyBytes_FromStringAndSize(NULL, total);
    if (out == NULL) goto done;
    char *w = PyBytes_AS_STRING(out);
    for (Py_ssize_t j = 0; j < keep.len; j++) {
        Py_ssize_t a = keep.start[j];
        const char *lit = a == -1 ? "&#xE005;" : a == -2 ? "&#xE006;" : a == -3 ? "&#xE007;" : NULL;
        if (lit) {
            memcpy(w, lit, 8);
            w += 8;
        } else {
            memcpy(w, d + a, (size_t)(keep.end[j] - a));
            w += keep.end[j] - a;
        }
    }
    goto done;
unchanged:
    Py_INCREF(arg);
    out = arg;
    goto done;
nomem:
    PyErr_NoMemory();
done:
    spans_free(&keep);
    PyBuffer_Release(&view);
    return out;
}

/* ---------------------------------------------------------------- markup repairs needed? */

static int is_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

/* safety.has_markup_repairs: (a default-namespace attribute xmlns="/xmlns=' occurs,
 *                             a named entity other than amp/lt/gt/quot/apos starts: "&" + a letter). */
static PyObject *has_markup_repairs(PyObject *self, PyObject *arg) {
    (void)self;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    const char *data = view.buf;
    Py_ssize_t size = view.len;
    int ns = 0; /* one search for xmlns= (an xmlns:prefix= declaration does not contain it), then the quote */
    for (Py_ssize_t at = find(data, 0, size, "xmlns=", 6); !ns && at >= 0; at = find(data, at + 6, size, "xmlns=", 6))
        ns = at + 6 < size && (data[at + 6] == '"' || data[at + 6] == '\'');
    int named = 0;
    static const char *predefined[] = {"amp;", "lt;", "gt;", "quot;", "apos;"};
    const char *p = data, *end = data + size;
    while (!named && (p = memchr(p, '&', (size_t)(end - p))) != NULL) {
        p++;
        if (p == end || !is_alpha(*p)) continue;
        named = 1;
        for (int i = 0; i < 5; i++) {
            size_t n = strlen(predefined[i]);
            if ((size_t)(end - p) >= n && memcmp(p, predefined[i], n) == 0) {
                named = 0;
                break;
            }
        }
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("(OO)", ns ? Py_True : Py_False, named ? Py_True : Py_False);
}

/* ---------------------------------------------------------------- squash */

static int zero_width(Py_UCS4 c) { return c == 0x200B || c == 0xFEFF || c == 0x00AD || c == 0x2060; }

static unsigned char ascii_space[128]; /* Py_UNICODE_ISSPACE for ASCII, filled at import */

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

/* text.squash: zero-width characters removed, then " ".join(text.split()). */
static PyObject *squash(PyObject *self, PyObject *arg) {
    (void)self;
    if (!PyUnicode_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "squash() expects str, got %.100s", Py_TYPE(arg)->tp_name);
        return NULL;
    }
    return squash_range(arg, 0, PyUnicode_GET_LENGTH(arg), 1);
}

/* collapse(text) -> str: " ".join(text.split()) (squash without removing zero-width characters). */
static PyObject *collapse(PyObject *self, PyObject *arg) {
    (void)self;
    if (!PyUnicode_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "collapse() expects str, got %.100s", Py_TYPE(arg)->tp_name);
        return NULL;
    }
    return squash_range(arg, 0, PyUnicode_GET_LENGTH(arg), 0);
}

/* squash_pieces(text, sep) -> list: [squash(piece) for piece in text.split(sep)], `sep` one character. */
static PyObject *squash_pieces(PyObject *self, PyObject *args) {
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

/* ---------------------------------------------------------------- NFC probe */

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
static PyObject *nfc_probe(PyObject *self, PyObject *arg) {
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

/* ---------------------------------------------------------------- citation runs */

#define CITE 0xE005
#define AY_OPEN 0xE006
#define AY_CLOSE 0xE007
#define CONTEXT 60

static int is_sep_char(Py_UCS4 c) {
    return c == ',' || c == ';' || c == 0x2013 || c == 0x2014 || c == 0x2012 || c == 0x2212 || c == '-';
}

/* End of the unit (_UNIT) starting at i, or -1: CITE, or AY_OPEN [^AY_OPEN AY_CLOSE]* AY_CLOSE. */
static Py_ssize_t unit_end(int kind, const void *d, Py_ssize_t n, Py_ssize_t i) {
    if (i >= n) return -1;
    Py_UCS4 c = PyUnicode_READ(kind, d, i);
    if (c == CITE) return i + 1;
    if (c != AY_OPEN) return -1;
    for (i++; i < n; i++) {
        c = PyUnicode_READ(kind, d, i);
        if (c == AY_CLOSE) return i + 1;
        if (c == AY_OPEN) return -1;
    }
    return -1;
}

static Py_ssize_t skip_space(int kind, const void *d, Py_ssize_t n, Py_ssize_t i) {
    while (i < n && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, d, i))) i++;
    return i;
}

/* text._RUN.match(text, i).end(), or -1: a unit, then (_SEP unit)* with _SEP = \s*(?:[,;–—‒−-]|and|&)?\s*.
   The separator is deterministic (a unit starts with neither whitespace nor a separator), so no backtracking. */
static Py_ssize_t run_end(int kind, const void *d, Py_ssize_t n, Py_ssize_t i) {
    Py_ssize_t end = unit_end(kind, d, n, i);
    while (end >= 0) {
        Py_ssize_t j = skip_space(kind, d, n, end);
        if (j < n) {
            Py_UCS4 c = PyUnicode_READ(kind, d, j);
            if (is_sep_char(c) || c == '&') {
                j = skip_space(kind, d, n, j + 1);
            } else if (c == 'a' && j + 2 < n && PyUnicode_READ(kind, d, j + 1) == 'n' &&
                       PyUnicode_READ(kind, d, j + 2) == 'd') {
                j = skip_space(kind, d, n, j + 3);
            }
        }
        Py_ssize_t next = unit_end(kind, d, n, j);
        if (next < 0) return end;
        end = next;
    }
    return -1;
}

/* text._RIGHT_CLOSE.match(text, i).end(), or -1: \s*[,;]?\s*[\])] */
static Py_ssize_t right_close(int kind, const void *d, Py_ssize_t n, Py_ssize_t i) {
    i = skip_space(kind, d, n, i);
    if (i < n) {
        Py_UCS4 c = PyUnicode_READ(kind, d, i);
        if (c == ',' || c == ';') i = skip_space(kind, d, n, i + 1);
    }
    if (i < n) {
        Py_UCS4 c = PyUnicode_READ(kind, d, i);
        if (c == ']' || c == ')') return i + 1;
    }
    return -1;
}

static int left_last(Py_UCS4 c) { return c < 128 && c && strchr("[(;,.:eonEON", (int)c) != NULL; }

static int is_word(Py_UCS4 c) { return c == '_' || Py_UNICODE_ISALNUM(c); }

/* Whether `c` can be part of _LEFT_OPEN after its bracket: whitespace, or a character of a lead-in ("see also",
   "e.g.", "for a review, see", ...: ASCII letters, ".", ",", ":"); any non-ASCII character too, to be safe (a
   case-insensitive pattern also matches some non-ASCII letters, like U+017F for "s"). */
static int lead_in_char(Py_UCS4 c) {
    return c >= 128 || Py_UNICODE_ISSPACE(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
           c == ',' || c == ':';
}

/* Two cases of _general decided without its regexes, for a run text[s:e] with no author-year citation, kept so
   far up to `pos`, in its context text[base:s] (base = max(s - 60, pos)). Returns where the kept text ends and
   sets *next to where to go on from, or returns -1 (then _general decides).
   - The context ends in an opening bracket and a closing one follows the run ("x [ 12 ]"): both go, with the
     whitespace before the opening one.
   - No closing bracket follows, and no opening bracket in the context can start _LEFT_OPEN (none there, or a
     character after the last one that no lead-in has): _general ends in its _LEFT_BARE case,
     \s*(?:\b[Rr]efs?\.\s*)?\Z searched in the context; that pattern is matched here. */
static Py_ssize_t shortcut_keep_to(int kind, const void *d, Py_ssize_t n, Py_ssize_t s, Py_ssize_t e, Py_ssize_t pos,
                                   Py_ssize_t *next) {
    Py_ssize_t base = s - CONTEXT > pos ? s - CONTEXT : pos;
    Py_ssize_t kept = s; /* end of the context without its trailing whitespace */
    while (kept > base && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, d, kept - 1))) kept--;
    Py_ssize_t close = right_close(kind, d, n, e);
    if (kept > base) {
        Py_UCS4 last = PyUnicode_READ(kind, d, kept - 1);
        if (last == '[' || last == '(') {
            if (close < 0) return -1;
            Py_ssize_t j = kept - 1;
            while (j > base && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, d, j - 1))) j--;
            *next = close;
            return j;
        }
    }
    if (close >= 0) return -1;
    Py_ssize_t bracket = s;
    while (bracket > base) {
        Py_UCS4 c = PyUnicode_READ(kind, d, bracket - 1);
        if (c == '[' || c == '(') break;
        bracket--;
    }
    if (bracket > base) { /* text[bracket - 1] is the last opening bracket of the context */
        Py_ssize_t k = bracket;
        while (k < s && lead_in_char(PyUnicode_READ(kind, d, k))) k++;
        if (k == s) return -1; /* it may start _LEFT_OPEN */
    }
    *next = e;
    /* "ref." / "refs." / "Ref." / "Refs." at a word start ends the kept context: it goes, with the whitespace
       before it (the leftmost place the pattern matches) */
    Py_ssize_t r = -1;
    if (kept - base >= 5 && PyUnicode_READ(kind, d, kept - 1) == '.' && PyUnicode_READ(kind, d, kept - 2) == 's')
        r = kept - 5;
    else if (kept - base >= 4 && PyUnicode_READ(kind, d, kept - 1) == '.')
        r = kept - 4;
    if (r >= 0) {
        Py_UCS4 c0 = PyUnicode_READ(kind, d, r);
        if ((c0 == 'R' || c0 == 'r') && PyUnicode_READ(kind, d, r + 1) == 'e' && PyUnicode_READ(kind, d, r + 2) == 'f' &&
            (r == base || !is_word(PyUnicode_READ(kind, d, r - 1)))) {
            while (r > base && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, d, r - 1))) r--;
            return r;
        }
    }
    return kept;
}

static int append_slice(PyObject *out, PyObject *text, Py_ssize_t a, Py_ssize_t b) {
    if (b <= a) return 0;
    PyObject *piece = PyUnicode_Substring(text, a, b);
    if (piece == NULL) return -1;
    int rc = PyList_Append(out, piece);
    Py_DECREF(piece);
    return rc;
}

/* What text._tidy looks for: *brackets, whether _EMPTY_PAREN or _EMPTY_SQUARE matches (an opening bracket, then
   only whitespace, ",", ";", "–" or "-", then a closing one); *strays, whether a marker is left. */
static int tidy_flags(PyObject *text, int *brackets, int *strays) {
    int kind = PyUnicode_KIND(text);
    const void *d = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    static const Py_UCS4 markers[3] = {CITE, AY_OPEN, AY_CLOSE}, openers[2] = {'(', '['};
    *strays = *brackets = 0;
    for (int m = 0; m < 3 && !*strays; m++) {
        Py_ssize_t at = PyUnicode_FindChar(text, markers[m], 0, n, 1);
        if (at == -2) return -1;
        *strays = at >= 0;
    }
    for (int o = 0; o < 2 && !*brackets; o++) {
        for (Py_ssize_t at = PyUnicode_FindChar(text, openers[o], 0, n, 1); at >= 0 && !*brackets;
             at = PyUnicode_FindChar(text, openers[o], at + 1, n, 1)) {
            Py_ssize_t j = at + 1;
            Py_UCS4 x = 0;
            for (; j < n; j++) {
                x = PyUnicode_READ(kind, d, j);
                if (!(Py_UNICODE_ISSPACE(x) || x == ',' || x == ';' || x == 0x2013 || x == '-')) break;
            }
            *brackets = j < n && (x == ')' || x == ']');
        }
    }
    return PyErr_Occurred() ? -1 : 0;
}

/* text._remove_citations(text, fast=True) up to _tidy: (text with every citation run removed, runs' marker
   count). The shortcuts are decided here; every other run is handed to `general(text, s, e, pos)`, the Python
   twin's own general case, which returns (what to keep from pos on, where to go on from). */
static PyObject *remove_citation_runs(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *text, *general;
    if (!PyArg_ParseTuple(args, "UO:remove_citation_runs", &text, &general)) return NULL;
    int kind = PyUnicode_KIND(text);
    const void *d = PyUnicode_DATA(text);
    Py_ssize_t len = PyUnicode_GET_LENGTH(text), pos = 0, count = 0, start = 0;
    PyObject *out = PyList_New(0);
    if (out == NULL) return NULL;
    Py_ssize_t nc = PyUnicode_FindChar(text, CITE, 0, len, 1), na = PyUnicode_FindChar(text, AY_OPEN, 0, len, 1);
    for (;;) {
        if (nc >= 0 && nc < start) nc = PyUnicode_FindChar(text, CITE, start, len, 1);
        if (na >= 0 && na < start) na = PyUnicode_FindChar(text, AY_OPEN, start, len, 1);
        if (nc == -2 || na == -2) goto error;
        if (nc < 0 && na < 0) break;
        Py_ssize_t s = na >= 0 && (nc < 0 || na < nc) ? na : nc;
        Py_ssize_t e = run_end(kind, d, len, s);
        if (e < 0) { /* an author-year opener without its closer */
            start = s + 1;
            continue;
        }
        start = e;
        int lone = e - s == 1 && PyUnicode_READ(kind, d, s) == CITE;
        int has_ay = 0;
        for (Py_ssize_t k = s; k < e; k++) {
            Py_UCS4 m = PyUnicode_READ(kind, d, k);
            count += m == CITE || m == AY_OPEN;
            has_ay |= m == AY_OPEN;
        }
        if (s > pos) {
            Py_UCS4 c = PyUnicode_READ(kind, d, s - 1);
            if (c == '[' || c == '(') {
                Py_ssize_t end = right_close(kind, d, len, e);
                if (end >= 0) { /* "x [12]" -> "x": the bracket and the whitespace before it go */
                    Py_ssize_t j = s - 1, lo = s - CONTEXT > pos ? s - CONTEXT : pos;
                    while (j > lo && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, d, j - 1))) j--;
                    if (append_slice(out, text, pos, j) < 0) goto error;
                    pos = end;
                    continue;
                }
            } else if (!left_last(c) && !Py_UNICODE_ISSPACE(c) && (lone || !has_ay)) { /* "x¹²" -> "x" */
                if (append_slice(out, text, pos, s) < 0) goto error;
                pos = e;
                continue;
            }
        }
        if (!has_ay) {
            Py_ssize_t next, keep_to = shortcut_keep_to(kind, d, len, s, e, pos, &next);
            if (keep_to >= 0) {
                if (append_slice(out, text, pos, keep_to) < 0) goto error;
                pos = next;
                continue;
            }
        }
        PyObject *step = PyObject_CallFunction(general, "Onnn", text, s, e, pos);
        if (step == NULL) goto error;
        PyObject *piece;
        Py_ssize_t next;
        if (!PyArg_ParseTuple(step, "Un:general", &piece, &next) || PyList_Append(out, piece) < 0) {
            Py_DECREF(step);
            goto error;
        }
        Py_DECREF(step);
        pos = next;
    }
    if (append_slice(out, text, pos, len) < 0) goto error;
    PyObject *empty = PyUnicode_New(0, 0);
    if (empty == NULL) goto error;
    PyObject *joined = PyUnicode_Join(empty, out);
    Py_DECREF(empty);
    Py_DECREF(out);
    if (joined == NULL) return NULL;
    int brackets, strays;
    if (tidy_flags(joined, &brackets, &strays) < 0) {
        Py_DECREF(joined);
        return NULL;
    }
    return Py_BuildValue("(NnOO)", joined, count, brackets ? Py_True : Py_False, strays ? Py_True : Py_False);
error:
    Py_DECREF(out);
    return NULL;
}

/* ---------------------------------------------------------------- MinHash */

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
static PyObject *shingle_hashes(PyObject *self, PyObject *args) {
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
static PyObject *permutation_minima(PyObject *self, PyObject *args) {
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

/* ---------------------------------------------------------------- module */

static PyMethodDef methods[] = {
    {"cut_elements", (PyCFunction)(void (*)(void))cut_elements, METH_VARARGS | METH_KEYWORDS,
     "cut_elements(data, *, tables=False) -> (bytes, counts): as medllama.ingest.safety.cut_elements."},
    {"mark_citations", mark_citations, METH_O,
     "mark_citations(data) -> bytes: plain bibliography xrefs replaced by their citation markers."},
    {"has_markup_repairs", has_markup_repairs, METH_O,
     "has_markup_repairs(data) -> (default_ns, named_entity): as medllama.ingest.safety.has_markup_repairs."},
    {"squash", squash, METH_O, "squash(text) -> str: as medllama.ingest.text.squash."},
    {"collapse", collapse, METH_O, "collapse(text) -> str: ' '.join(text.split())."},
    {"squash_pieces", squash_pieces, METH_VARARGS,
     "squash_pieces(text, sep) -> list[str]: [squash(p) for p in text.split(sep)]."},
    {"remove_citation_runs", remove_citation_runs, METH_VARARGS,
     "remove_citation_runs(text, general) -> (str, int, bool, bool): see medllama.ingest.text._remove_citations."},
    {"shingle_hashes", shingle_hashes, METH_VARARGS,
     "shingle_hashes(normalized, pos) -> bytes: see medllama.minhash.shingle_hashes_py."},
    {"permutation_minima", permutation_minima, METH_VARARGS,
     "permutation_minima(shingles, a, b) -> bytes: see medllama.minhash._permutation_minima_py."},
    {"nfc_probe", nfc_probe, METH_O, "nfc_probe(text) -> str | None: see medllama.ingest.text.nfc."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_speedups", "C versions of medllama.ingest's hottest scans.", -1, methods, NULL, NULL, NULL,
    NULL,
};

PyMODINIT_FUNC PyInit__speedups(void) {
    for (int c = 0; c < 128; c++) ascii_space[c] = (unsigned char)Py_UNICODE_ISSPACE(c);
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddStringConstant(m, "SOURCE_SHA256", SPEEDUPS_SOURCE_SHA256) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
