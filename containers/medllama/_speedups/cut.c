/* The byte work before parsing: safety.cut_elements (reference lists, table bodies) and
   safety.has_markup_repairs, equal to their Python twins (safety.cut_elements_py, has_markup_repairs_py). */
#include "speedups.h"

static int tag_end(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '>' || c == '/'; }

/* safety._find_open: the next "<name" start tag in data[start:end] ("<name-wrap" and the like do not count). */
static Py_ssize_t find_open(const char *data, Py_ssize_t size, const char *open, Py_ssize_t n, Py_ssize_t start,
                            Py_ssize_t end) {
    Py_ssize_t at = find(data, start, end, open, n);
    while (at >= 0 && (at + n >= size || !tag_end(data[at + n]))) at = find(data, at + n, end, open, n);
    return at;
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
PyObject *speedups_cut_elements(PyObject *self, PyObject *args, PyObject *kwargs) {
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
    Py_ssize_t pos = 0;
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
            pos = found.end[j];
        }
        if (pos <= ref_start) {
            if (spans_push(&parts, pos, ref_start) < 0) goto nomem;
            pos = ref_end;
        }
    }
    if (parts.len == 1) {
        Py_INCREF(data_obj);
        out = data_obj;
    } else {
        static const char *const stub[] = {"<table/>"};
        out = join_parts(data, &parts, stub);
        if (out == NULL) goto done;
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

static int is_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

/* safety.has_markup_repairs: (a default-namespace attribute xmlns="/xmlns=' occurs,
 *                             a named entity other than amp/lt/gt/quot/apos starts: "&" + a letter). */
PyObject *speedups_has_markup_repairs(PyObject *self, PyObject *arg) {
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
