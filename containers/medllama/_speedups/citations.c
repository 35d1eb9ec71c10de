/* The citation-run loop of text._remove_citations: run detection, the shortcuts, and the flags text._tidy uses;
   every run the shortcuts do not decide is handed to the Python text._general. */
#include "speedups.h"

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
PyObject *speedups_remove_citation_runs(PyObject *self, PyObject *args) {
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
    PyObject *joined = join_text(out, 0);
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
