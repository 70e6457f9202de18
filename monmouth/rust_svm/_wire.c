/*
 * A Solana wire transaction's layout, read in C (monmouth.rust_svm._wire).
 *
 * The node reads this for every transaction on its main thread, the pipeline's critical path;
 * in Python it costs about 5 us a transaction on this machine kind, here a fraction of one.
 * `monmouth.rust_svm.wire.layout_py` is the same reading in Python, the reference the tests hold
 * this one to. It reads offsets of a transaction the runtime has already decoded; every read is
 * bounds-checked all the same, and bytes that end early raise ValueError.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

typedef struct {
    const unsigned char *raw;
    Py_ssize_t size, at;
} Reader;

static int short_vec(Reader *r, Py_ssize_t *out) {
    Py_ssize_t value = 0;
    for (int i = 0; i < 3; i++) {
        if (r->at >= r->size)
            return -1;
        unsigned char byte = r->raw[r->at++];
        value |= (Py_ssize_t)(byte & 0x7F) << (7 * i);
        if (!(byte & 0x80)) {
            *out = value;
            return 0;
        }
    }
    return -1;
}

static PyObject *cut(Reader *r, Py_ssize_t count, Py_ssize_t width) {
    if (count < 0 || r->size - r->at < count * width)
        return NULL;
    PyObject *out = PyTuple_New(count);
    if (!out)
        return NULL;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = PyBytes_FromStringAndSize((const char *)r->raw + r->at, width);
        if (!item) {
            Py_DECREF(out);
            return NULL;
        }
        PyTuple_SET_ITEM(out, i, item);
        r->at += width;
    }
    return out;
}

static PyObject *layout(PyObject *Py_UNUSED(module), PyObject *arg) {
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "layout() takes bytes");
        return NULL;
    }
    Reader r = {(const unsigned char *)PyBytes_AS_STRING(arg), PyBytes_GET_SIZE(arg), 0};
    PyObject *signatures = NULL, *keys = NULL, *signers = NULL, *message = NULL;
    PyObject *writable = NULL, *blockhash = NULL, *result = NULL;
    /* Programs invoked, by account index (indices are one byte). */
    unsigned char program[256] = {0};
    Py_ssize_t n_sigs, n_keys, n_ix, message_at;
    if (short_vec(&r, &n_sigs) < 0 || !(signatures = cut(&r, n_sigs, 64)))
        goto short_;
    message_at = r.at;
    if (r.at >= r.size)
        goto short_;
    int versioned = r.raw[r.at] & 0x80;
    if (versioned)
        r.at++;
    if (r.size - r.at < 3)
        goto short_;
    Py_ssize_t n_required = r.raw[r.at], ro_signed = r.raw[r.at + 1];
    Py_ssize_t ro_unsigned = r.raw[r.at + 2];
    r.at += 3;
    if (short_vec(&r, &n_keys) < 0 || !(keys = cut(&r, n_keys, 32)))
        goto short_;
    if (r.size - r.at < 32)
        goto short_;
    blockhash = PyBytes_FromStringAndSize((const char *)r.raw + r.at, 32);
    if (!blockhash)
        goto fail;
    r.at += 32;
    if (short_vec(&r, &n_ix) < 0)
        goto short_;
    for (Py_ssize_t i = 0; i < n_ix; i++) {
        Py_ssize_t n_accounts, n_data;
        if (r.at >= r.size)
            goto short_;
        program[r.raw[r.at++]] = 1;
        if (short_vec(&r, &n_accounts) < 0 || r.size - r.at < n_accounts)
            goto short_;
        r.at += n_accounts;
        if (short_vec(&r, &n_data) < 0 || r.size - r.at < n_data)
            goto short_;
        r.at += n_data;
    }
    int lookups = 0;
    if (versioned) {
        if (r.at >= r.size)
            goto short_;
        lookups = r.raw[r.at] != 0; /* a compact-u16 is zero iff its first byte is */
    }
    if (n_required > n_keys)
        n_required = n_keys;
    if (!(signers = PyTuple_GetSlice(keys, 0, n_required)) || !(writable = PyList_New(0)))
        goto fail;
    for (Py_ssize_t i = 0; i < n_keys; i++) {
        int signed_writable = i < n_required - ro_signed;
        int unsigned_writable = n_required <= i && i < n_keys - ro_unsigned;
        if ((signed_writable || unsigned_writable) && !(i < 256 && program[i]) &&
            PyList_Append(writable, PyTuple_GET_ITEM(keys, i)) < 0)
            goto fail;
    }
    message = PyBytes_FromStringAndSize((const char *)r.raw + message_at, r.size - message_at);
    if (!message)
        goto fail;
    result = PyTuple_Pack(7, signatures, signers, message, keys, writable,
                          lookups ? Py_True : Py_False, blockhash);
    goto fail; /* release the parts either way */
short_:
    if (!PyErr_Occurred())
        PyErr_SetString(PyExc_ValueError, "transaction bytes end inside its layout");
fail:
    Py_XDECREF(signatures);
    Py_XDECREF(keys);
    Py_XDECREF(signers);
    Py_XDECREF(message);
    Py_XDECREF(writable);
    Py_XDECREF(blockhash);
    return result;
}

static PyMethodDef methods[] = {
    {"layout", layout, METH_O,
     "layout(raw)\n--\n\n(signatures, signers, message, keys, writable, lookups, blockhash) of a "
     "wire transaction the runtime decoded."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_wire", "A Solana wire transaction's layout, read in C.", -1, methods,
};

PyMODINIT_FUNC PyInit__wire(void) { return PyModule_Create(&module); }
