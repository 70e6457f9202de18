/*
 * A block's write log in C (monmouth.core._writes): `monmouth.core.writes.WriteLogPy`, the
 * reference the tests hold this one to, with the slots in C arrays.
 *
 * With the stream published (the default), the executor logs every write of every transaction
 * for the `writes` message, on the node's main thread. In Python that was a list per slot, a
 * dict of unread slots, a loop over each transaction's keys twice, an account encoded through
 * five attribute reads and a dict of owners per re-read, and at the block's end ~2,000 tuples
 * per 1,000 transfers that msgspec then encoded into the segment. Here a transaction costs two
 * calls (`touch` before it runs, `written` after), a re-read is encoded in C, and `encode`
 * writes the segment's two MessagePack arrays (`_BlockData.writes`, `written_before`) straight
 * from the slots, byte for byte what msgspec makes of the reference's lists.
 *
 * Measured on the node's main thread (1,000 transfers a block among 1,000 users, AMD EPYC, the
 * stream published with nobody subscribed): the writes cost 22,600 instructions a transfer
 * with the slots kept in Python (before this file) and 8,600 with this log (callgrind,
 * marginal over 6,000 transfers; at 50 a block 19,200 and 7,700), and main-thread CPU time
 * 15 % above not publishing before, 4 % now (medians of 24 alternated rounds of 30,000
 * transfers on a shared machine; single rounds scatter by +-10 %). Most of what is left is
 * the re-reads themselves (1.14 a transfer, about 4,000 instructions each: LiteSVM's
 * `get_account` and solders' getters).
 *
 * - WriteLog(read, closed[, get_account, pubkeys]): `read(key)` gives the runtime's account now
 *   (`SvmRuntime.get_object`); `closed` is the encoding a closed account's write reports;
 *   `get_account` and `pubkeys`, the runtime's LiteSVM reader and its Pubkeys by key, read
 *   without `get_object`'s Python frame where the key's Pubkey is known (a 0-lamport account
 *   read so is None, as `get_object` gives it);
 * - touch(keys), written(keys, index), deposit(key, before, after): as `WriteLogPy`;
 * - encode(before, changed_keys, changed, stored) -> (writes, written_before): the MessagePack
 *   of `WriteLogPy.finish`'s two lists.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* The store's account layout (`rust_svm.accounts.ACCOUNT_HEADER`, "<QQ?32s"): lamports,
 * rent epoch, executable, owner, then the data. */
#define HEADER 49
/* Owners' bytes kept, as `runtime.account_fields` keeps them: a few programs own nearly every
 * account, and `bytes(Pubkey)` costs more than the rest of an encoding. */
#define OWNER_CACHE 4096

static PyObject *s_lamports, *s_rent_epoch, *s_executable, *s_owner, *s_data;
static PyObject *owners; /* Pubkey -> its 32 bytes */

/* ------------------------------------------------------------------ accounts */

static void put_u64le(unsigned char *p, uint64_t x) {
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(x >> (8 * i));
}

static int u64_attr(PyObject *account, PyObject *name, uint64_t *out) {
    PyObject *value = PyObject_GetAttr(account, name);
    if (!value)
        return -1;
    unsigned long long x = PyLong_AsUnsignedLongLong(value);
    Py_DECREF(value);
    if (x == (unsigned long long)-1 && PyErr_Occurred())
        return -1;
    *out = x;
    return 0;
}

/* `runtime.account_fields(account)`: the store's encoding of a solders Account; None for None,
 * and for a 0-lamport account if `zero_is_none` (`SvmRuntime.get_object`'s view). */
static PyObject *encode_account(PyObject *account, int zero_is_none) {
    if (account == Py_None)
        return Py_NewRef(Py_None);
    uint64_t lamports, rent_epoch;
    if (u64_attr(account, s_lamports, &lamports) < 0)
        return NULL;
    if (lamports == 0 && zero_is_none)
        return Py_NewRef(Py_None);
    if (u64_attr(account, s_rent_epoch, &rent_epoch) < 0)
        return NULL;
    PyObject *flag = PyObject_GetAttr(account, s_executable);
    if (!flag)
        return NULL;
    int executable = PyObject_IsTrue(flag);
    Py_DECREF(flag);
    if (executable < 0)
        return NULL;
    PyObject *owner = PyObject_GetAttr(account, s_owner);
    if (!owner)
        return NULL;
    PyObject *raw_owner = PyDict_GetItemWithError(owners, owner); /* borrowed */
    if (raw_owner)
        Py_INCREF(raw_owner);
    else if (!PyErr_Occurred() && (raw_owner = PyObject_Bytes(owner))) {
        if (PyBytes_GET_SIZE(raw_owner) != 32) {
            PyErr_SetString(PyExc_ValueError, "an account's owner is not 32 bytes");
            Py_CLEAR(raw_owner);
        } else {
            if (PyDict_GET_SIZE(owners) >= OWNER_CACHE)
                PyDict_Clear(owners);
            if (PyDict_SetItem(owners, owner, raw_owner) < 0)
                Py_CLEAR(raw_owner);
        }
    }
    Py_DECREF(owner);
    if (!raw_owner)
        return NULL;
    PyObject *data = PyObject_GetAttr(account, s_data), *out = NULL;
    Py_buffer view;
    if (data && PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) == 0) {
        out = PyBytes_FromStringAndSize(NULL, HEADER + view.len);
        if (out) {
            unsigned char *p = (unsigned char *)PyBytes_AS_STRING(out);
            put_u64le(p, lamports);
            put_u64le(p + 8, rent_epoch);
            p[16] = (unsigned char)executable;
            memcpy(p + 17, PyBytes_AS_STRING(raw_owner), 32);
            memcpy(p + HEADER, view.buf, (size_t)view.len);
        }
        PyBuffer_Release(&view);
    }
    Py_XDECREF(data);
    Py_DECREF(raw_owner);
    return out;
}

/* ------------------------------------------------------------------ MessagePack (as msgspec) */

static Py_ssize_t array_size(Py_ssize_t n) { return n < 16 ? 1 : n < 65536 ? 3 : 5; }

static unsigned char *put_be(unsigned char *p, uint64_t x, int bytes) {
    for (int i = bytes - 1; i >= 0; i--)
        *p++ = (unsigned char)(x >> (8 * i));
    return p;
}

static unsigned char *put_array(unsigned char *p, Py_ssize_t n) {
    if (n < 16) {
        *p++ = (unsigned char)(0x90 | n);
        return p;
    }
    if (n < 65536) {
        *p++ = 0xdc;
        return put_be(p, (uint64_t)n, 2);
    }
    *p++ = 0xdd;
    return put_be(p, (uint64_t)n, 4);
}

static Py_ssize_t bin_size(Py_ssize_t n) { return (n < 256 ? 2 : n < 65536 ? 3 : 5) + n; }

static unsigned char *put_bin(unsigned char *p, PyObject *bytes) {
    Py_ssize_t n = PyBytes_GET_SIZE(bytes);
    if (n < 256) {
        *p++ = 0xc4;
        *p++ = (unsigned char)n;
    } else if (n < 65536) {
        *p++ = 0xc5;
        p = put_be(p, (uint64_t)n, 2);
    } else {
        *p++ = 0xc6;
        p = put_be(p, (uint64_t)n, 4);
    }
    memcpy(p, PyBytes_AS_STRING(bytes), (size_t)n);
    return p + n;
}

/* bytes, or nil for None */
static Py_ssize_t value_size(PyObject *v) {
    return v == Py_None ? 1 : bin_size(PyBytes_GET_SIZE(v));
}

static unsigned char *put_value(unsigned char *p, PyObject *v) {
    if (v == Py_None) {
        *p++ = 0xc0;
        return p;
    }
    return put_bin(p, v);
}

/* msgspec's integers: the smallest of fixint, (u)int8, 16, 32, 64 that holds the value. */
static Py_ssize_t int_size(long long x) {
    if (x >= 0)
        return x < 128 ? 1 : x < 256 ? 2 : x < 65536 ? 3 : x < 4294967296LL ? 5 : 9;
    return x >= -32 ? 1 : x >= -128 ? 2 : x >= -32768 ? 3 : x >= -2147483648LL ? 5 : 9;
}

static unsigned char *put_int(unsigned char *p, long long x) {
    uint64_t u = (uint64_t)x;
    if (x >= 0) {
        if (x < 128) {
            *p++ = (unsigned char)x;
            return p;
        }
        if (x < 256) {
            *p++ = 0xcc;
            return put_be(p, u, 1);
        }
        if (x < 65536) {
            *p++ = 0xcd;
            return put_be(p, u, 2);
        }
        if (x < 4294967296LL) {
            *p++ = 0xce;
            return put_be(p, u, 4);
        }
        *p++ = 0xcf;
        return put_be(p, u, 8);
    }
    if (x >= -32) {
        *p++ = (unsigned char)x;
        return p;
    }
    if (x >= -128) {
        *p++ = 0xd0;
        return put_be(p, u, 1);
    }
    if (x >= -32768) {
        *p++ = 0xd1;
        return put_be(p, u, 2);
    }
    if (x >= -2147483648LL) {
        *p++ = 0xd2;
        return put_be(p, u, 4);
    }
    *p++ = 0xd3;
    return put_be(p, u, 8);
}

/* ------------------------------------------------------------------ the log */

typedef struct {
    PyObject *key; /* strong */
    Py_hash_t hash;
    Py_ssize_t unread; /* its last slot, while that slot's value is unread; else -1 */
    /* During `encode` only: */
    PyObject *start; /* strong: the value before the block (bytes or None), or NULL */
    PyObject *end;   /* borrowed from `changed`: the value at the end, or NULL */
    PyObject *last;  /* borrowed from a slot: the value of its last slot so far, or NULL */
    char from_before, listed;
} Entry;

typedef struct {
    Py_ssize_t entry;
    long long tx;    /* index of the transaction's info, -1 for a deposit */
    PyObject *value; /* strong: bytes, None (closed), NULL while unread */
    char emit;       /* during `encode`: not dropped */
} Slot;

typedef struct {
    PyObject_HEAD
    PyObject *read;        /* key -> Account | None */
    PyObject *closed;      /* bytes */
    PyObject *get_account; /* the runtime's own: Pubkey -> Account | None, or NULL */
    PyObject *pubkeys;     /* the runtime's Pubkeys of keys (dict), or NULL */
    Entry *entries;
    Py_ssize_t n_entries, cap_entries;
    Py_ssize_t *table; /* open addressing: entry index + 1, 0 free */
    size_t mask;       /* table size - 1 (a power of two), or 0 before the first key */
    Slot *slots;
    Py_ssize_t n_slots, cap_slots;
} WriteLog;

static int grow(void **array, Py_ssize_t *cap, Py_ssize_t need, size_t item) {
    if (need <= *cap)
        return 0;
    Py_ssize_t cap2 = *cap ? *cap : 64;
    while (cap2 < need)
        cap2 *= 2;
    void *p = PyMem_Realloc(*array, (size_t)cap2 * item);
    if (!p) {
        PyErr_NoMemory();
        return -1;
    }
    *array = p;
    *cap = cap2;
    return 0;
}

static int rehash(WriteLog *self, size_t size) {
    Py_ssize_t *table = PyMem_Calloc(size, sizeof(Py_ssize_t));
    if (!table) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < self->n_entries; i++) {
        size_t at = (size_t)self->entries[i].hash & (size - 1);
        while (table[at])
            at = (at + 1) & (size - 1);
        table[at] = i + 1;
    }
    PyMem_Free(self->table);
    self->table = table;
    self->mask = size - 1;
    return 0;
}

/* The entry of `key`, added if `add`; -1 when absent (not added), -2 on error. */
static Py_ssize_t find(WriteLog *self, PyObject *key, int add) {
    if (!PyBytes_Check(key)) {
        PyErr_Format(PyExc_TypeError, "a key must be bytes, not %.100s", Py_TYPE(key)->tp_name);
        return -2;
    }
    Py_hash_t hash = PyObject_Hash(key);
    if (hash == -1)
        return -2;
    Py_ssize_t size = PyBytes_GET_SIZE(key);
    if (self->table) {
        size_t at = (size_t)hash & self->mask;
        Py_ssize_t i;
        while ((i = self->table[at])) {
            Entry *e = &self->entries[i - 1];
            if (e->key == key ||
                (e->hash == hash && PyBytes_GET_SIZE(e->key) == size &&
                 memcmp(PyBytes_AS_STRING(e->key), PyBytes_AS_STRING(key), (size_t)size) == 0))
                return i - 1;
            at = (at + 1) & self->mask;
        }
    }
    if (!add)
        return -1;
    if (grow((void **)&self->entries, &self->cap_entries, self->n_entries + 1, sizeof(Entry)) < 0)
        return -2;
    /* At most half full. */
    if ((size_t)(self->n_entries + 1) * 2 > self->mask + 1 &&
        rehash(self, self->mask ? (self->mask + 1) * 2 : 256) < 0)
        return -2;
    Py_ssize_t i = self->n_entries++;
    Entry *e = &self->entries[i];
    memset(e, 0, sizeof *e);
    e->key = Py_NewRef(key);
    e->hash = hash;
    e->unread = -1;
    size_t at = (size_t)hash & self->mask;
    while (self->table[at])
        at = (at + 1) & self->mask;
    self->table[at] = i + 1;
    return i;
}

static Py_ssize_t add_slot(WriteLog *self, Py_ssize_t entry, long long tx, PyObject *value) {
    if (grow((void **)&self->slots, &self->cap_slots, self->n_slots + 1, sizeof(Slot)) < 0)
        return -1;
    Py_ssize_t i = self->n_slots++;
    self->slots[i] = (Slot){entry, tx, value, 0};
    return i;
}

static PyObject *WriteLog_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    PyObject *read, *closed, *get_account = NULL, *pubkeys = NULL;
    if (kwds && PyDict_GET_SIZE(kwds)) {
        PyErr_SetString(PyExc_TypeError, "WriteLog() takes no keyword arguments");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "OO!|OO!:WriteLog", &read, &PyBytes_Type, &closed, &get_account,
                          &PyDict_Type, &pubkeys))
        return NULL;
    if (!get_account != !pubkeys) {
        PyErr_SetString(PyExc_TypeError, "WriteLog(): get_account and pubkeys go together");
        return NULL;
    }
    WriteLog *self = (WriteLog *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    self->read = Py_NewRef(read);
    self->closed = Py_NewRef(closed);
    self->get_account = Py_XNewRef(get_account);
    self->pubkeys = Py_XNewRef(pubkeys);
    return (PyObject *)self;
}

static void release(WriteLog *self) {
    for (Py_ssize_t i = 0; i < self->n_entries; i++) {
        Py_DECREF(self->entries[i].key);
        Py_XDECREF(self->entries[i].start);
    }
    for (Py_ssize_t i = 0; i < self->n_slots; i++)
        Py_XDECREF(self->slots[i].value);
    PyMem_Free(self->entries);
    PyMem_Free(self->table);
    PyMem_Free(self->slots);
    self->entries = NULL;
    self->table = NULL;
    self->slots = NULL;
    self->n_entries = self->cap_entries = self->n_slots = self->cap_slots = 0;
    self->mask = 0;
}

static int WriteLog_traverse(WriteLog *self, visitproc visit, void *arg) {
    Py_VISIT(self->read);
    Py_VISIT(self->get_account);
    Py_VISIT(self->pubkeys);
    return 0;
}

static int WriteLog_clear(WriteLog *self) {
    Py_CLEAR(self->read);
    Py_CLEAR(self->get_account);
    Py_CLEAR(self->pubkeys);
    return 0;
}

static void WriteLog_dealloc(WriteLog *self) {
    PyObject_GC_UnTrack(self);
    WriteLog_clear(self);
    Py_CLEAR(self->closed);
    release(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Fill the unread slot of entry `i` with `value` (a new reference, stolen). */
static void fill(WriteLog *self, Py_ssize_t i, PyObject *value) {
    Entry *e = &self->entries[i];
    if (e->unread < 0) { /* filled meanwhile (`read` called back into the log) */
        Py_DECREF(value);
        return;
    }
    self->slots[e->unread].value = value;
    e->unread = -1;
}

static PyObject *WriteLog_touch(WriteLog *self, PyObject *keys) {
    PyObject *seq = PySequence_Fast(keys, "keys must be a sequence");
    if (!seq)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    for (Py_ssize_t k = 0; k < n; k++) {
        Py_ssize_t i = find(self, items[k], 0);
        if (i == -2)
            goto fail;
        if (i < 0 || self->entries[i].unread < 0)
            continue;
        /* The value an earlier transaction wrote: from the runtime's own reader where its
         * Pubkey is known (`get_object` without its Python frame), else through `read`. */
        PyObject *pubkey = self->pubkeys ? PyDict_GetItemWithError(self->pubkeys, items[k]) : NULL;
        if (!pubkey && PyErr_Occurred())
            goto fail;
        /* Held across the call: the dict's reference is borrowed. */
        Py_XINCREF(pubkey);
        PyObject *account = pubkey ? PyObject_CallOneArg(self->get_account, pubkey)
                                   : PyObject_CallOneArg(self->read, items[k]);
        Py_XDECREF(pubkey);
        if (!account)
            goto fail;
        PyObject *value = encode_account(account, 1);
        Py_DECREF(account);
        if (!value)
            goto fail;
        fill(self, i, value);
    }
    Py_DECREF(seq);
    Py_RETURN_NONE;
fail:
    Py_DECREF(seq);
    return NULL;
}

static PyObject *WriteLog_written(WriteLog *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "written(keys, index)");
        return NULL;
    }
    long long index = PyLong_AsLongLong(args[1]);
    if (index == -1 && PyErr_Occurred())
        return NULL;
    PyObject *seq = PySequence_Fast(args[0], "keys must be a sequence");
    if (!seq)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    for (Py_ssize_t k = 0; k < n; k++) {
        Py_ssize_t i = find(self, items[k], 1);
        if (i < 0)
            goto fail;
        if (self->entries[i].unread >= 0) /* (a key named twice is one write) */
            continue;
        Py_ssize_t slot = add_slot(self, i, index, NULL);
        if (slot < 0)
            goto fail;
        self->entries[i].unread = slot;
    }
    Py_DECREF(seq);
    Py_RETURN_NONE;
fail:
    Py_DECREF(seq);
    return NULL;
}

static PyObject *WriteLog_deposit(WriteLog *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "deposit(key, before, after)");
        return NULL;
    }
    Py_ssize_t i = find(self, args[0], 1);
    if (i < 0)
        return NULL;
    PyObject *after = encode_account(args[2], 0);
    if (!after)
        return NULL;
    if (self->entries[i].unread >= 0) {
        PyObject *before = encode_account(args[1], 0);
        if (!before) {
            Py_DECREF(after);
            return NULL;
        }
        fill(self, i, before);
    }
    if (add_slot(self, i, -1, after) < 0) {
        Py_DECREF(after);
        return NULL;
    }
    Py_RETURN_NONE;
}

static int is_value(PyObject *v) {
    if (v == Py_None || PyBytes_Check(v))
        return 1;
    PyErr_Format(PyExc_TypeError, "an account value must be bytes or None, not %.100s",
                 Py_TYPE(v)->tp_name);
    return 0;
}

static int equal(PyObject *a, PyObject *b) {
    if (a == b)
        return 1;
    if (a == Py_None || b == Py_None)
        return 0;
    Py_ssize_t n = PyBytes_GET_SIZE(a);
    return n == PyBytes_GET_SIZE(b) &&
           memcmp(PyBytes_AS_STRING(a), PyBytes_AS_STRING(b), (size_t)n) == 0;
}

static PyObject *WriteLog_encode(WriteLog *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "encode(before, changed_keys, changed, stored)");
        return NULL;
    }
    PyObject *before = args[0], *keys = args[1], *changed = args[2], *stored = args[3];
    if (!PyDict_Check(before) || !PyList_Check(keys) || !PyList_Check(changed) ||
        !PyList_Check(stored)) {
        PyErr_SetString(PyExc_TypeError, "encode(dict, list, list, list)");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(keys);
    if (PyList_GET_SIZE(changed) != n || PyList_GET_SIZE(stored) != n) {
        PyErr_SetString(PyExc_ValueError, "changed_keys, changed and stored differ in length");
        return NULL;
    }
    PyObject *result = NULL, *writes = NULL, *written_before = NULL;
    Py_ssize_t *order = NULL;
    /* The values before and at the end of the block of the keys with slots. */
    for (Py_ssize_t k = 0; k < n; k++) {
        Py_ssize_t i = find(self, PyList_GET_ITEM(keys, k), 0);
        if (i == -2)
            goto done;
        PyObject *end = PyList_GET_ITEM(changed, k), *start = PyList_GET_ITEM(stored, k);
        if (i < 0)
            continue;
        if (!is_value(end) || !is_value(start))
            goto done;
        self->entries[i].end = end;
        Py_XSETREF(self->entries[i].start, Py_NewRef(start));
        self->entries[i].from_before = 0;
    }
    Py_ssize_t at = 0;
    PyObject *key, *account;
    while (PyDict_Next(before, &at, &key, &account)) {
        Py_ssize_t i = find(self, key, 0);
        if (i == -2)
            goto done;
        if (i < 0)
            continue;
        PyObject *start = encode_account(account, 0);
        if (!start)
            goto done;
        Py_XSETREF(self->entries[i].start, start);
        self->entries[i].from_before = 1;
    }
    /* Unread slots take their key's value at the end: the changed value, else the one before. */
    for (Py_ssize_t i = 0; i < self->n_entries; i++) {
        Entry *e = &self->entries[i];
        if (e->unread < 0)
            continue;
        PyObject *value = e->end ? e->end : e->from_before ? e->start : NULL;
        if (!value) {
            PyErr_SetObject(PyExc_KeyError, e->key);
            goto done;
        }
        fill(self, i, Py_NewRef(value));
    }
    /* Which slots are kept, and the two arrays' sizes. */
    Py_ssize_t n_out = 0, n_keys = 0, size_w = 0, size_b = 0;
    if (!(order = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(self->n_entries + 1)))) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t s = 0; s < self->n_slots; s++) {
        Slot *slot = &self->slots[s];
        Entry *e = &self->entries[slot->entry];
        PyObject *previous = e->last ? e->last : e->start;
        if (!previous) {
            PyErr_SetObject(PyExc_KeyError, e->key);
            goto done;
        }
        e->last = slot->value;
        slot->emit = !(slot->tx >= 0 && equal(slot->value, previous));
        if (!slot->emit)
            continue;
        n_out++;
        PyObject *value = slot->value == Py_None ? self->closed : slot->value;
        size_w += 1 + bin_size(PyBytes_GET_SIZE(e->key)) + bin_size(PyBytes_GET_SIZE(value)) +
                  int_size(slot->tx);
        if (!e->listed) {
            e->listed = 1;
            order[n_keys++] = slot->entry;
            size_b += 1 + bin_size(PyBytes_GET_SIZE(e->key)) + value_size(e->start);
        }
    }
    size_w += array_size(n_out);
    size_b += array_size(n_keys);
    if (!(writes = PyBytes_FromStringAndSize(NULL, size_w)) ||
        !(written_before = PyBytes_FromStringAndSize(NULL, size_b)))
        goto done;
    unsigned char *p = (unsigned char *)PyBytes_AS_STRING(writes);
    p = put_array(p, n_out);
    for (Py_ssize_t s = 0; s < self->n_slots; s++) {
        Slot *slot = &self->slots[s];
        if (!slot->emit)
            continue;
        *p++ = 0x93;
        p = put_bin(p, self->entries[slot->entry].key);
        p = put_bin(p, slot->value == Py_None ? self->closed : slot->value);
        p = put_int(p, slot->tx);
    }
    if (p != (unsigned char *)PyBytes_AS_STRING(writes) + size_w) {
        PyErr_SetString(PyExc_SystemError, "_writes: the writes' size was miscounted");
        goto done;
    }
    p = (unsigned char *)PyBytes_AS_STRING(written_before);
    p = put_array(p, n_keys);
    for (Py_ssize_t k = 0; k < n_keys; k++) {
        Entry *e = &self->entries[order[k]];
        *p++ = 0x92;
        p = put_bin(p, e->key);
        p = put_value(p, e->start);
    }
    if (p != (unsigned char *)PyBytes_AS_STRING(written_before) + size_b) {
        PyErr_SetString(PyExc_SystemError, "_writes: the values before were miscounted");
        goto done;
    }
    result = PyTuple_Pack(2, writes, written_before);
done:
    /* Back to the state between transactions: `encode` may be called again. */
    for (Py_ssize_t i = 0; i < self->n_entries; i++) {
        Entry *e = &self->entries[i];
        Py_CLEAR(e->start);
        e->end = e->last = NULL;
        e->from_before = e->listed = 0;
    }
    PyMem_Free(order);
    Py_XDECREF(writes);
    Py_XDECREF(written_before);
    return result;
}

static PyMethodDef WriteLog_methods[] = {
    {"touch", (PyCFunction)WriteLog_touch, METH_O,
     "touch(keys)\n--\n\nA transaction is about to run with these writable keys: an unread slot "
     "of one of them takes its value now."},
    {"written", (PyCFunction)(void (*)(void))WriteLog_written, METH_FASTCALL,
     "written(keys, index)\n--\n\nAn executed transaction may have written `keys`: a slot per "
     "key without an unread one."},
    {"deposit", (PyCFunction)(void (*)(void))WriteLog_deposit, METH_FASTCALL,
     "deposit(key, before, after)\n--\n\nA deposit wrote `after` over `before`."},
    {"encode", (PyCFunction)(void (*)(void))WriteLog_encode, METH_FASTCALL,
     "encode(before, changed_keys, changed, stored)\n--\n\n(writes, written_before): the "
     "MessagePack of WriteLogPy.finish's two lists."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject WriteLogType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "monmouth.core._writes.WriteLog",
    .tp_doc = "A block's write log (monmouth.core.writes.WriteLogPy in C).",
    .tp_basicsize = sizeof(WriteLog),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_new = WriteLog_new,
    .tp_dealloc = (destructor)WriteLog_dealloc,
    .tp_traverse = (traverseproc)WriteLog_traverse,
    .tp_clear = (inquiry)WriteLog_clear,
    .tp_methods = WriteLog_methods,
};

static PyObject *encode_account_py(PyObject *Py_UNUSED(module), PyObject *account) {
    return encode_account(account, 0);
}

/* changes(read, get_account, pubkeys, touched, before) -> (keys, values): the executor's last
 * pass over a block (`writes.changes_py` is the reference). For each touched key in order, the
 * account now (as `touch` reads it: `get_account` where its Pubkey is known, a 0-lamport one
 * counting as absent, else `read`); a key of `before` whose account equals the one there did not
 * change; every other key is listed with its account encoded (`account_fields`). In Python, a
 * frame for `get_object` and one for `account_fields` per account: 0.70 to 0.75 us a key against
 * 0.48 to 0.55 here (100 keys, alternated rounds), LiteSVM's own read (0.24) most of the rest. */
static PyObject *changes(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "changes(read, get_account, pubkeys, touched, before)");
        return NULL;
    }
    PyObject *read = args[0], *get_account = args[1], *pubkeys = args[2];
    if (!PyDict_CheckExact(pubkeys) || !PyDict_CheckExact(args[3]) ||
        !PyDict_CheckExact(args[4])) {
        PyErr_SetString(PyExc_TypeError, "pubkeys, touched and before are dicts");
        return NULL;
    }
    /* The keys, not the dict: `read` and `get_account` run Python code. */
    PyObject *touched = PyDict_Keys(args[3]), *before = args[4];
    PyObject *keys = PyList_New(0), *values = PyList_New(0), *out = NULL;
    if (!touched || !keys || !values)
        goto done;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(touched); i++) {
        PyObject *key = PyList_GET_ITEM(touched, i);
        PyObject *pubkey = PyDict_GetItemWithError(pubkeys, key); /* borrowed */
        if (!pubkey && PyErr_Occurred())
            goto done;
        Py_XINCREF(pubkey); /* held across the call */
        PyObject *account = pubkey ? PyObject_CallOneArg(get_account, pubkey)
                                   : PyObject_CallOneArg(read, key);
        Py_XDECREF(pubkey);
        if (!account)
            goto done;
        if (pubkey && account != Py_None) { /* `get_object` gives None for 0 lamports */
            uint64_t lamports;
            if (u64_attr(account, s_lamports, &lamports) < 0) {
                Py_DECREF(account);
                goto done;
            }
            if (lamports == 0)
                Py_SETREF(account, Py_NewRef(Py_None));
        }
        PyObject *prior = PyDict_GetItemWithError(before, key); /* borrowed */
        if (!prior && PyErr_Occurred()) {
            Py_DECREF(account);
            goto done;
        }
        if (prior) {
            Py_INCREF(prior); /* held across `==`, which may run Python code */
            int same = PyObject_RichCompareBool(account, prior, Py_EQ);
            Py_DECREF(prior);
            if (same < 0) {
                Py_DECREF(account);
                goto done;
            }
            if (same) {
                Py_DECREF(account);
                continue;
            }
        }
        PyObject *value = encode_account(account, 0);
        Py_DECREF(account);
        if (!value)
            goto done;
        int failed = PyList_Append(keys, key) < 0 || PyList_Append(values, value) < 0;
        Py_DECREF(value);
        if (failed)
            goto done;
    }
    out = PyTuple_Pack(2, keys, values);
done:
    Py_XDECREF(touched);
    Py_XDECREF(keys);
    Py_XDECREF(values);
    return out;
}

static PyMethodDef methods[] = {
    {"account_fields", encode_account_py, METH_O,
     "account_fields(account)\n--\n\nmonmouth.rust_svm.runtime.account_fields in C."},
    {"changes", (PyCFunction)(void (*)(void))changes, METH_FASTCALL,
     "changes(read, get_account, pubkeys, touched, before)\n--\n\nThe accounts a block changed, "
     "encoded: monmouth.core.writes.changes_py in C."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_writes", "A block's write log in C.", -1, methods,
};

PyMODINIT_FUNC PyInit__writes(void) {
    if (!(s_lamports = PyUnicode_InternFromString("lamports")) ||
        !(s_rent_epoch = PyUnicode_InternFromString("rent_epoch")) ||
        !(s_executable = PyUnicode_InternFromString("executable")) ||
        !(s_owner = PyUnicode_InternFromString("owner")) ||
        !(s_data = PyUnicode_InternFromString("data")) || !(owners = PyDict_New()))
        return NULL;
    if (PyType_Ready(&WriteLogType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    if (PyModule_AddObjectRef(m, "WriteLog", (PyObject *)&WriteLogType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
