/*
 * A transaction's lamports read in C (monmouth.rust_svm._runtime).
 *
 * With transaction details on (the default), the executor reads every key's lamports before
 * and after each transaction on the node's main thread, the pipeline's critical path. In
 * Python (`SvmRuntime.balances_py`, the reference the tests hold this one to) that is a list
 * comprehension of a dict lookup, a call into LiteSVM and an `or 0` per key, about 0.4 us a
 * key; here the loop, the lookups and the calls are C, and what is left is LiteSVM's own read.
 *
 * Measured (Intel Xeon, a transfer's 3 keys): 5,300 instructions a call against 8,500 for the
 * reference (callgrind, marginal over 20,000 calls), 0.31 against 0.57 us (best of alternated
 * rounds); two calls a transaction. `monmouth bench` (50,000 transfers, 8 alternated rounds):
 * the main thread's CPU time 26.7 us a transaction, median, against 27.9 with the reference
 * (paired differences scatter from -5 to +6.5 us on a shared machine).
 *
 * - balances(get_balance, pubkeys, make_pubkey, keys) -> list[int]: per key of `keys`, its
 *   Pubkey from `pubkeys` (the runtime's cache, bytes -> Pubkey) or, missing there, from
 *   `make_pubkey(key)` (the runtime's `_pubkey`, which may add it to that cache, or clear the
 *   cache when full: nothing here holds a borrowed entry across that call), then
 *   `get_balance(pubkey)` (LiteSVM's: int, or None for no account, read as 0).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *balances(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "balances() takes 4 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *get_balance = args[0], *pubkeys = args[1], *make_pubkey = args[2];
    if (!PyDict_Check(pubkeys)) {
        PyErr_SetString(PyExc_TypeError, "balances(): pubkeys must be a dict");
        return NULL;
    }
    PyObject *keys = PySequence_Fast(args[3], "balances(): keys must be a sequence");
    if (!keys)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(keys);
    PyObject *out = PyList_New(n);
    if (!out)
        goto fail;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *key = PySequence_Fast_GET_ITEM(keys, i);
        /* A strong reference: `get_balance` is foreign code, and the cache may change. */
        PyObject *pubkey = Py_XNewRef(PyDict_GetItemWithError(pubkeys, key));
        if (!pubkey) {
            if (PyErr_Occurred())
                goto fail;
            pubkey = PyObject_Vectorcall(make_pubkey, &key, 1, NULL);
            if (!pubkey)
                goto fail;
        }
        PyObject *lamports = PyObject_Vectorcall(get_balance, &pubkey, 1, NULL);
        Py_DECREF(pubkey);
        if (!lamports)
            goto fail;
        if (lamports == Py_None) {
            Py_DECREF(lamports);
            lamports = PyLong_FromLong(0);
        }
        PyList_SET_ITEM(out, i, lamports);
    }
    Py_DECREF(keys);
    return out;
fail:
    Py_XDECREF(out); /* the items not set yet are NULL, which a list's dealloc skips */
    Py_DECREF(keys);
    return NULL;
}

static PyMethodDef methods[] = {
    {"balances", (PyCFunction)(void (*)(void))balances, METH_FASTCALL,
     "balances(get_balance, pubkeys, make_pubkey, keys, /)\n--\n\nThe lamports of each key's "
     "account (0 where none): `SvmRuntime.balances_py` in C."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_runtime", "A transaction's lamports read in C.", -1, methods,
};

PyMODINIT_FUNC PyInit__runtime(void) { return PyModule_Create(&module); }
