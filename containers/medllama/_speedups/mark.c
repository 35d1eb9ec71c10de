/* mark_citations: plain bibliography xrefs in the body written as the walker's citation markers before parsing
   (safety.parse(mark_citations=True)); extract() returns the same either way. */
#include "speedups.h"

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
PyObject *speedups_mark_citations(PyObject *self, PyObject *arg) {
    (void)self;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    const char *d = view.buf;
    Py_ssize_t n = view.len;
    Spans keep = {0}; /* kept slices; start < 0: a marker (-1 numeric, -2 author-year opener, -3 its closer) */
    PyObject *out = NULL;
    Py_ssize_t pos = 0, i = 0, depth = 0, body_at = -1; /* body_at: depth outside the open <body> */
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
                    if (has_two_letters(d, body, label_end)) {
                        if (spans_push(&keep, -2, -2) < 0 || spans_push(&keep, body, label_end) < 0 ||
                            spans_push(&keep, -3, -3) < 0)
                            goto nomem;
                    } else {
                        if (spans_push(&keep, -1, -1) < 0) goto nomem;
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
    static const char *const markers[] = {"&#xE005;", "&#xE006;", "&#xE007;"}; /* CITE, AY_OPEN, AY_CLOSE */
    out = join_parts(d, &keep, markers);
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
