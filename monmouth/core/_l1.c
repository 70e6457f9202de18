/*
 * An L1 block's transactions in C (monmouth.core._l1): the fast path of `L1Block.from_rpc`.
 *
 * Every L1 transaction of every block the node follows is parsed on its main thread: some ten
 * hex fields (hashes, addresses, quantities, calldata) and a frozen dataclass each. In Python
 * that is about 4.5 us a transaction, a mainnet block of 200 costs a millisecond; here it is a
 * few hundred nanoseconds.
 *
 * This is a fast path, not a second parser: it accepts only the canonical shape (ASCII
 * `0x`-prefixed hex of [0-9a-fA-F], the expected sizes, the expected containers) and returns
 * None for anything else, even what the reference would accept (hex with spaces for
 * `bytes.fromhex`, underscores for `int`). The caller then runs the reference
 * (`L1Block.from_rpc`), so every error message and every odd input's value stay the
 * reference's; the tests hold the two equal on generated and mutated blocks.
 *
 * - init(L1Transaction, L1Log, L1Block): the classes to build (their slots' descriptors, taken
 *   once);
 * - transactions(txs, receipts, structs) -> tuple[L1Transaction, ...] | None: the block's
 *   transactions with their receipts' status and logs. `txs` and `receipts` are lists of
 *   dicts (`structs` false: a JSON-RPC answer as `json` decodes it, a missing key is None, a
 *   log's missing `data` is "0x") or of msgspec Structs of the RPC shape (`structs` true: the
 *   fields are attributes, `from` is `from_`);
 * - block(number, hash, parentHash, timestamp, transactions, traces) -> L1Block | None: the
 *   block around them (the number below 2**64 and the timestamp below 2**63 in at most 16
 *   hex digits; traces None or a list, kept as a tuple);
 * - deeper(decode, text, levels): decode(text) with `levels` of the recursion limit taken
 *   first, so that msgspec runs out of depth no later than `json` would in its place.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

/* The keys read, by dict key and by Struct attribute (they differ for `from` only). */
enum { K_HASH, K_FROM, K_TO, K_VALUE, K_INPUT, K_INDEX, K_TXHASH, K_STATUS, K_LOGS,
       K_ADDRESS, K_TOPICS, K_DATA, K_COUNT };
static const char *const DICT_KEYS[K_COUNT] = {
    "hash", "from", "to", "value", "input", "transactionIndex", "transactionHash", "status",
    "logs", "address", "topics", "data"};
static const char *const ATTRS[K_COUNT] = {
    "hash", "from_", "to", "value", "input", "transactionIndex", "transactionHash", "status",
    "logs", "address", "topics", "data"};
static PyObject *dict_keys[K_COUNT];
static PyObject *attrs[K_COUNT];

/* The classes built and their slots, in the order their values are passed to `build`. */
static const char *const TX_FIELDS[] = {"hash", "index", "sender", "to", "value", "input",
                                        "status", "logs"};
#define TX_NFIELDS 8
static const char *const LOG_FIELDS[] = {"address", "topics", "data"};
#define LOG_NFIELDS 3
static const char *const BLOCK_FIELDS[] = {"number", "hash", "parent_hash", "timestamp",
                                           "transactions", "traces"};
#define BLOCK_NFIELDS 6
static PyTypeObject *tx_type, *log_type, *block_type;
static PyObject *tx_slots[TX_NFIELDS], *log_slots[LOG_NFIELDS], *block_slots[BLOCK_NFIELDS];

static int8_t HEX[256];

/* Results of the field readers: OK, or REJECT (not the canonical shape: the caller returns
 * None and the reference runs), or ERROR (a Python exception is set: out of memory). */
enum { ERROR = -1, REJECT = 0, OK = 1 };

/* The value of `key` in `obj` as a new reference, NULL when absent (a dict's missing key, or
 * the attribute missing) with no exception set; ERROR from the caller's point of view only
 * when an exception is set. */
static PyObject *get(PyObject *obj, int key, int structs) {
    if (structs) {
        PyObject *value = PyObject_GetAttr(obj, attrs[key]);
        if (value == NULL && PyErr_ExceptionMatches(PyExc_AttributeError))
            PyErr_Clear();
        return value;
    }
    PyObject *value = PyDict_GetItemWithError(obj, dict_keys[key]);
    Py_XINCREF(value);
    return value;
}

/* `text` as bytes: "0x" and an even number of hex digits, `size` bytes when size >= 0. */
static int data(PyObject *text, Py_ssize_t size, PyObject **out) {
    if (text == NULL || !PyUnicode_Check(text) || !PyUnicode_IS_COMPACT_ASCII(text))
        return REJECT;
    Py_ssize_t len = PyUnicode_GET_LENGTH(text);
    const unsigned char *p = PyUnicode_DATA(text);
    if (len < 2 || (len & 1) || p[0] != '0' || p[1] != 'x')
        return REJECT;
    Py_ssize_t n = (len - 2) / 2;
    if (size >= 0 && n != size)
        return REJECT;
    PyObject *bytes = PyBytes_FromStringAndSize(NULL, n);
    if (bytes == NULL)
        return ERROR;
    unsigned char *dst = (unsigned char *)PyBytes_AS_STRING(bytes);
    p += 2;
    for (Py_ssize_t i = 0; i < n; i++) {
        int hi = HEX[p[2 * i]], lo = HEX[p[2 * i + 1]];
        if ((hi | lo) < 0) {
            Py_DECREF(bytes);
            return REJECT;
        }
        dst[i] = (unsigned char)(hi << 4 | lo);
    }
    *out = bytes;
    return OK;
}

/* `text` as an int: "0x" and 1 to 64 hex digits (the reference's 3 to 66 characters). */
static int quantity(PyObject *text, PyObject **out) {
    if (text == NULL || !PyUnicode_Check(text) || !PyUnicode_IS_COMPACT_ASCII(text))
        return REJECT;
    Py_ssize_t len = PyUnicode_GET_LENGTH(text);
    const unsigned char *p = PyUnicode_DATA(text);
    if (len < 3 || len > 66 || p[0] != '0' || p[1] != 'x')
        return REJECT;
    uint64_t value = 0;
    for (Py_ssize_t i = 2; i < len; i++) {
        int digit = HEX[p[i]];
        if (digit < 0)
            return REJECT;
        value = value << 4 | (uint64_t)digit;
    }
    if (len <= 18) {
        *out = PyLong_FromUnsignedLongLong(value);
    } else {
        /* Over 64 bits (wei values): validated digits only, which int(text, 16) reads alike. */
        char digits[65];
        memcpy(digits, p + 2, (size_t)(len - 2));
        digits[len - 2] = '\0';
        *out = PyLong_FromString(digits, NULL, 16);
    }
    return *out == NULL ? ERROR : OK;
}

/* A new instance of `type` with its slots set to `values` (stolen), as the dataclass's
 * __init__ would set them (it has no __post_init__; the tests compare with the reference). */
static PyObject *build(PyTypeObject *type, PyObject **slots, PyObject **values, int n) {
    PyObject *obj = type->tp_alloc(type, 0);
    int failed = obj == NULL;
    for (int i = 0; i < n; i++) {
        if (!failed && Py_TYPE(slots[i])->tp_descr_set(slots[i], obj, values[i]) < 0)
            failed = 1;
        Py_DECREF(values[i]);
    }
    if (failed) {
        Py_XDECREF(obj);
        return NULL;
    }
    return obj;
}

/* Exact dicts only: a subclass could answer lookups otherwise than the reference's `get`. */
static int is_container(PyObject *obj, int structs) {
    return structs || PyDict_CheckExact(obj);
}

/* One log: address (20 bytes), topics (32 bytes each; absent or None: none), data. */
static int parse_log(PyObject *raw, int structs, PyObject **out) {
    PyObject *values[LOG_NFIELDS] = {NULL, NULL, NULL};
    PyObject *field = NULL;
    int rc;
    if (!is_container(raw, structs))
        return REJECT;
    field = get(raw, K_ADDRESS, structs);
    if (field == NULL && PyErr_Occurred())
        return ERROR;
    rc = data(field, 20, &values[0]);
    Py_XDECREF(field);
    if (rc != OK)
        goto done;
    field = get(raw, K_TOPICS, structs);
    if (field == NULL && PyErr_Occurred()) {
        rc = ERROR;
        goto done;
    }
    if (field == NULL || field == Py_None) {
        values[1] = PyTuple_New(0);
    } else if (PyList_CheckExact(field)) {
        Py_ssize_t n = PyList_GET_SIZE(field);
        values[1] = PyTuple_New(n);
        for (Py_ssize_t i = 0; values[1] != NULL && i < n; i++) {
            PyObject *topic = NULL;
            rc = data(PyList_GET_ITEM(field, i), 32, &topic);
            if (rc != OK) {
                Py_DECREF(field);
                goto done;
            }
            PyTuple_SET_ITEM(values[1], i, topic);
        }
    } else {
        Py_DECREF(field);
        rc = REJECT;
        goto done;
    }
    Py_XDECREF(field);
    if (values[1] == NULL) {
        rc = ERROR;
        goto done;
    }
    field = get(raw, K_DATA, structs);
    if (field == NULL && PyErr_Occurred()) {
        rc = ERROR;
        goto done;
    }
    if (field == NULL) {
        values[2] = PyBytes_FromStringAndSize(NULL, 0); /* the reference's default "0x" */
        rc = values[2] == NULL ? ERROR : OK;
    } else {
        rc = data(field, -1, &values[2]);
        Py_DECREF(field);
    }
    if (rc != OK)
        goto done;
    *out = build(log_type, log_slots, values, LOG_NFIELDS);
    return *out == NULL ? ERROR : OK;
done:
    for (int i = 0; i < LOG_NFIELDS; i++)
        Py_XDECREF(values[i]);
    return rc;
}

/* A receipt's logs: absent or None or empty, none; a list, each parsed. */
static int parse_logs(PyObject *receipt, int structs, PyObject **out) {
    PyObject *raw = get(receipt, K_LOGS, structs);
    if (raw == NULL && PyErr_Occurred())
        return ERROR;
    if (raw == NULL || raw == Py_None) {
        Py_XDECREF(raw);
        *out = PyTuple_New(0);
        return *out == NULL ? ERROR : OK;
    }
    if (!PyList_CheckExact(raw)) {
        Py_DECREF(raw);
        return REJECT;
    }
    Py_ssize_t n = PyList_GET_SIZE(raw);
    PyObject *logs = PyTuple_New(n);
    if (logs == NULL) {
        Py_DECREF(raw);
        return ERROR;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *log = NULL;
        int rc = parse_log(PyList_GET_ITEM(raw, i), structs, &log);
        if (rc != OK) {
            Py_DECREF(logs);
            Py_DECREF(raw);
            return rc;
        }
        PyTuple_SET_ITEM(logs, i, log);
    }
    Py_DECREF(raw);
    *out = logs;
    return OK;
}

/* receipts -> {transaction hash: (status, logs)}, the last receipt of a hash winning as in
 * the reference's dict. */
static int parse_receipts(PyObject *receipts, int structs, PyObject *by_hash) {
    Py_ssize_t n = PyList_GET_SIZE(receipts);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *receipt = PyList_GET_ITEM(receipts, i);
        PyObject *hash = NULL, *status = NULL, *logs = NULL, *field;
        int rc;
        if (!is_container(receipt, structs))
            return REJECT;
        field = get(receipt, K_TXHASH, structs);
        if (field == NULL && PyErr_Occurred())
            return ERROR;
        rc = data(field, 32, &hash);
        Py_XDECREF(field);
        if (rc != OK)
            return rc;
        field = get(receipt, K_STATUS, structs);
        if (field == NULL && PyErr_Occurred()) {
            Py_DECREF(hash);
            return ERROR;
        }
        if (field == NULL || field == Py_None) {
            status = Py_NewRef(Py_None);
            rc = OK;
        } else {
            rc = quantity(field, &status);
        }
        Py_XDECREF(field);
        if (rc == OK)
            rc = parse_logs(receipt, structs, &logs);
        if (rc != OK) {
            Py_DECREF(hash);
            Py_XDECREF(status);
            return rc;
        }
        PyObject *entry = PyTuple_Pack(2, status, logs);
        Py_DECREF(status);
        Py_DECREF(logs);
        if (entry == NULL || PyDict_SetItem(by_hash, hash, entry) < 0) {
            Py_DECREF(hash);
            Py_XDECREF(entry);
            return ERROR;
        }
        Py_DECREF(hash);
        Py_DECREF(entry);
    }
    return OK;
}

/* One transaction, with its receipt's entry from `by_hash`. */
static int parse_tx(PyObject *raw, Py_ssize_t position, int structs, PyObject *by_hash,
                    PyObject **out) {
    /* hash, index, sender, to, value, input, status, logs */
    PyObject *values[TX_NFIELDS] = {NULL};
    PyObject *field, *entry;
    int rc;
    if (!is_container(raw, structs))
        return REJECT;

    field = get(raw, K_HASH, structs);
    if (field == NULL && PyErr_Occurred())
        return ERROR;
    rc = data(field, 32, &values[0]);
    Py_XDECREF(field);
    if (rc != OK)
        goto done;
    entry = PyDict_GetItemWithError(by_hash, values[0]);
    if (entry == NULL) {
        rc = PyErr_Occurred() ? ERROR : REJECT; /* no receipt: the reference says so */
        goto done;
    }
    values[6] = Py_NewRef(PyTuple_GET_ITEM(entry, 0));
    values[7] = Py_NewRef(PyTuple_GET_ITEM(entry, 1));

    field = get(raw, K_INDEX, structs);
    if (field == NULL && PyErr_Occurred()) {
        rc = ERROR;
        goto done;
    }
    if (field == NULL || field == Py_None) {
        values[1] = PyLong_FromSsize_t(position);
        rc = values[1] == NULL ? ERROR : OK;
    } else {
        rc = quantity(field, &values[1]);
    }
    Py_XDECREF(field);
    if (rc != OK)
        goto done;

    field = get(raw, K_FROM, structs);
    if (field == NULL && PyErr_Occurred()) {
        rc = ERROR;
        goto done;
    }
    rc = data(field, 20, &values[2]);
    Py_XDECREF(field);
    if (rc != OK)
        goto done;

    field = get(raw, K_TO, structs);
    if (field == NULL && PyErr_Occurred()) {
        rc = ERROR;
        goto done;
    }
    if (field == NULL || field == Py_None) {
        values[3] = Py_NewRef(Py_None);
        rc = OK;
    } else {
        rc = data(field, 20, &values[3]);
    }
    Py_XDECREF(field);
    if (rc != OK)
        goto done;

    field = get(raw, K_VALUE, structs);
    if (field == NULL && PyErr_Occurred()) {
        rc = ERROR;
        goto done;
    }
    rc = quantity(field, &values[4]);
    Py_XDECREF(field);
    if (rc != OK)
        goto done;

    field = get(raw, K_INPUT, structs);
    if (field == NULL && PyErr_Occurred()) {
        rc = ERROR;
        goto done;
    }
    rc = data(field, -1, &values[5]);
    Py_XDECREF(field);
    if (rc != OK)
        goto done;

    *out = build(tx_type, tx_slots, values, TX_NFIELDS);
    return *out == NULL ? ERROR : OK;
done:
    for (int i = 0; i < TX_NFIELDS; i++)
        Py_XDECREF(values[i]);
    return rc;
}

static PyObject *transactions(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "transactions(txs, receipts, structs)");
        return NULL;
    }
    if (tx_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_l1.init has not been called");
        return NULL;
    }
    PyObject *txs = args[0], *receipts = args[1];
    int structs = PyObject_IsTrue(args[2]);
    if (structs < 0)
        return NULL;
    if (!PyList_CheckExact(txs) || !PyList_CheckExact(receipts))
        Py_RETURN_NONE;
    PyObject *by_hash = PyDict_New();
    if (by_hash == NULL)
        return NULL;
    int rc = parse_receipts(receipts, structs, by_hash);
    if (rc != OK) {
        Py_DECREF(by_hash);
        if (rc == ERROR)
            return NULL;
        Py_RETURN_NONE;
    }
    Py_ssize_t n = PyList_GET_SIZE(txs);
    PyObject *result = PyTuple_New(n);
    if (result == NULL) {
        Py_DECREF(by_hash);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *tx = NULL;
        /* The list cannot change under us: nothing here runs Python code (exact dicts, or
         * msgspec Structs whose attributes are slots). */
        rc = parse_tx(PyList_GET_ITEM(txs, i), i, structs, by_hash, &tx);
        if (rc != OK) {
            Py_DECREF(result);
            Py_DECREF(by_hash);
            if (rc == ERROR)
                return NULL;
            Py_RETURN_NONE;
        }
        PyTuple_SET_ITEM(result, i, tx);
    }
    Py_DECREF(by_hash);
    return result;
}

/* `text` as an int below 2**bits (64 or 63), from at most 16 hex digits: the block number and
 * timestamp (the reference's SLOT_LIMIT and TIMESTAMP_LIMIT). */
static int small_quantity(PyObject *text, int bits, PyObject **out) {
    if (!PyUnicode_Check(text) || !PyUnicode_IS_COMPACT_ASCII(text) ||
        PyUnicode_GET_LENGTH(text) > 18)
        return REJECT;
    int rc = quantity(text, out);
    if (rc == OK && bits < 64) {
        /* At most 16 digits: the value fits in 64 bits. */
        unsigned long long value = PyLong_AsUnsignedLongLong(*out);
        if (value >> bits) {
            Py_CLEAR(*out);
            return REJECT;
        }
    }
    return rc;
}

static PyObject *block(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError,
                        "block(number, hash, parentHash, timestamp, transactions, traces)");
        return NULL;
    }
    if (block_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_l1.init has not been called");
        return NULL;
    }
    PyObject *values[BLOCK_NFIELDS] = {NULL};
    int rc = small_quantity(args[0], 64, &values[0]);
    if (rc == OK)
        rc = data(args[1], 32, &values[1]);
    if (rc == OK)
        rc = data(args[2], 32, &values[2]);
    if (rc == OK)
        rc = small_quantity(args[3], 63, &values[3]);
    if (rc == OK) {
        if (!PyTuple_CheckExact(args[4]))
            rc = REJECT;
        else
            values[4] = Py_NewRef(args[4]);
    }
    if (rc == OK) {
        if (args[5] == Py_None) {
            values[5] = Py_NewRef(Py_None);
        } else if (PyList_CheckExact(args[5])) {
            values[5] = PyList_AsTuple(args[5]);
            rc = values[5] == NULL ? ERROR : OK;
        } else {
            rc = REJECT;
        }
    }
    if (rc != OK) {
        for (int i = 0; i < BLOCK_NFIELDS; i++)
            Py_XDECREF(values[i]);
        if (rc == ERROR)
            return NULL;
        Py_RETURN_NONE;
    }
    return build(block_type, block_slots, values, BLOCK_NFIELDS);
}

static PyObject *deeper(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "deeper(decode, text, levels)");
        return NULL;
    }
    long levels = PyLong_AsLong(args[2]);
    if (levels == -1 && PyErr_Occurred())
        return NULL;
    long entered = 0;
    PyObject *result = NULL;
    /* A failed Py_EnterRecursiveCall has raised RecursionError and counts nothing. */
    while (entered < levels && Py_EnterRecursiveCall(" while decoding JSON") == 0)
        entered++;
    if (entered == levels)
        result = PyObject_CallOneArg(args[0], args[1]);
    while (entered-- > 0)
        Py_LeaveRecursiveCall();
    return result;
}

/* The slot descriptors of `type` named `names`; fails unless each is a member descriptor
 * (a slots dataclass), since `build` sets them directly. */
static int take_slots(PyObject *type, const char *const *names, int n, PyObject **slots) {
    if (!PyType_Check(type)) {
        PyErr_SetString(PyExc_TypeError, "init takes the L1Transaction and L1Log classes");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        PyObject *slot = PyObject_GetAttrString(type, names[i]);
        if (slot == NULL)
            return -1;
        if (!Py_IS_TYPE(slot, &PyMemberDescr_Type)) {
            Py_DECREF(slot);
            PyErr_Format(PyExc_TypeError, "%s is not a slot", names[i]);
            return -1;
        }
        Py_XSETREF(slots[i], slot);
    }
    return 0;
}

static PyObject *init(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "init(L1Transaction, L1Log, L1Block)");
        return NULL;
    }
    if (take_slots(args[0], TX_FIELDS, TX_NFIELDS, tx_slots) < 0 ||
        take_slots(args[1], LOG_FIELDS, LOG_NFIELDS, log_slots) < 0 ||
        take_slots(args[2], BLOCK_FIELDS, BLOCK_NFIELDS, block_slots) < 0)
        return NULL;
    Py_XSETREF(tx_type, (PyTypeObject *)Py_NewRef(args[0]));
    Py_XSETREF(log_type, (PyTypeObject *)Py_NewRef(args[1]));
    Py_XSETREF(block_type, (PyTypeObject *)Py_NewRef(args[2]));
    Py_RETURN_NONE;
}

static PyMethodDef METHODS[] = {
    {"init", (PyCFunction)(void (*)(void))init, METH_FASTCALL,
     "init(L1Transaction, L1Log, L1Block): the classes transactions() and block() build."},
    {"deeper", (PyCFunction)(void (*)(void))deeper, METH_FASTCALL,
     "deeper(decode, text, levels) -> decode(text), with levels of the recursion limit taken."},
    {"block", (PyCFunction)(void (*)(void))block, METH_FASTCALL,
     "block(number, hash, parentHash, timestamp, transactions, traces) -> L1Block, or None "
     "when a field is not in the canonical shape (the reference then parses it)."},
    {"transactions", (PyCFunction)(void (*)(void))transactions, METH_FASTCALL,
     "transactions(txs, receipts, structs) -> tuple of L1Transaction, or None when the block "
     "is not in the canonical shape (the reference then parses it)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef MODULE = {
    PyModuleDef_HEAD_INIT, "_l1", "An L1 block's transactions in C: L1Block.from_rpc's fast path.",
    -1, METHODS, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__l1(void) {
    memset(HEX, -1, sizeof HEX);
    for (int c = '0'; c <= '9'; c++)
        HEX[c] = (int8_t)(c - '0');
    for (int c = 'a'; c <= 'f'; c++)
        HEX[c] = (int8_t)(c - 'a' + 10);
    for (int c = 'A'; c <= 'F'; c++)
        HEX[c] = (int8_t)(c - 'A' + 10);
    for (int i = 0; i < K_COUNT; i++) {
        if (dict_keys[i] == NULL && (dict_keys[i] = PyUnicode_InternFromString(DICT_KEYS[i])) == NULL)
            return NULL;
        if (attrs[i] == NULL && (attrs[i] = PyUnicode_InternFromString(ATTRS[i])) == NULL)
            return NULL;
    }
    return PyModule_Create(&MODULE);
}
