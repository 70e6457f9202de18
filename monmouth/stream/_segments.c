/*
 * The stream's `writes` message in C (monmouth.stream._segments): `segments.writes_message`,
 * the Python reference the tests hold this one to, byte for byte.
 *
 * The publisher's child process formats every message a subscriber takes, on the two cores the
 * node's main thread and its signature checks need too. In Python a block's `writes` message
 * was the segment's MessagePack arrays decoded by msgspec into a tuple per write, then per
 * write a base58 name looked up, the account header unpacked, a dozen encoded parts joined
 * twice (the value and the one it replaced) and a `msgspec.Raw` made: 17 % of the child's
 * samples (py-spy). Here the segment's two arrays (`_BlockData.writes` and `written_before`,
 * taken undecoded as `msgspec.Raw`) are read in place and the message is written from them in
 * one buffer, with no Python object per write.
 *
 * - writes_message(number, writes, written_before, signatures) -> bytes: the MessagePack of
 *   `WritesBody(number, [...])` (`segments.writes_body`). `writes` is the MessagePack array of
 *   [pubkey, encoded account, transaction index or -1] arrays, `written_before` that of
 *   [pubkey, encoded account or nil] arrays; `signatures` the base58 signatures of the block's
 *   transactions (str or None), indexed by the writes' transaction indexes.
 *
 * Each write's `before` is the account's previous write in the block, else its value in
 * `written_before`, else nil, as in the reference. The reference keeps the encoded fields of
 * values across blocks (`segments._written`) to skip encoding them again; that is a cache of a
 * function of the value only, invisible in the output, so this one encodes them each time (a
 * copy of the data and two names from the cache below).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* The store's account layout (`rust_svm.accounts.ACCOUNT_HEADER`, "<QQ?32s"): lamports,
 * rent epoch, executable, owner, then the data. */
#define HEADER 49
#define KEY 32
/* Base58 names kept, direct-mapped by the key's hash: the keys of a block recur in the next
 * (users, programs, sysvars), and a few owners own nearly every account. */
#define NAMES 4096

static const char ALPHABET[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/* ------------------------------------------------------------------ base58 */

/* `key` (32 bytes) in base58 into `out` (at most 44 characters); returns its length. The
 * number is divided by 58^5 at a time, in 32-bit limbs (a division by a constant the compiler
 * makes a multiplication); each leading zero byte is a '1'. */
static int b58_key(const unsigned char *key, char *out) {
    uint32_t limb[8];
    for (int i = 0; i < 8; i++)
        limb[i] = (uint32_t)key[4 * i] << 24 | (uint32_t)key[4 * i + 1] << 16 |
                  (uint32_t)key[4 * i + 2] << 8 | key[4 * i + 3];
    int zeros = 0;
    while (zeros < KEY && key[zeros] == 0)
        zeros++;
    unsigned char digits[50]; /* little-endian base58 digits: 2^256 < 58^44 */
    int n = 0, start = 0;
    while (start < 8 && limb[start] == 0)
        start++;
    while (start < 8) {
        uint64_t rem = 0;
        for (int i = start; i < 8; i++) {
            uint64_t cur = rem << 32 | limb[i];
            limb[i] = (uint32_t)(cur / 656356768u); /* 58^5 */
            rem = cur % 656356768u;
        }
        for (int k = 0; k < 5; k++) {
            digits[n++] = (unsigned char)(rem % 58);
            rem /= 58;
        }
        while (start < 8 && limb[start] == 0)
            start++;
    }
    while (n > 0 && digits[n - 1] == 0)
        n--;
    int len = 0;
    for (int i = 0; i < zeros; i++)
        out[len++] = '1';
    while (n > 0)
        out[len++] = ALPHABET[digits[--n]];
    return len;
}

static uint64_t key_hash(const unsigned char *key) {
    uint64_t a, b;
    memcpy(&a, key, 8);
    memcpy(&b, key + 24, 8);
    return (a ^ (b * 0xC2B2AE3D27D4EB4Full)) * 0x9E3779B97F4A7C15ull;
}

static struct {
    unsigned char key[KEY];
    unsigned char len; /* 0: empty */
    char name[44];
} names[NAMES];

/* The base58 name of `key`, kept (its length in `*len`). The pointer is good until the next
 * call: that one may evict the entry. */
static const char *name_of(const unsigned char *key, int *len) {
    size_t at = (size_t)(key_hash(key) >> 52) & (NAMES - 1);
    if (!names[at].len || memcmp(names[at].key, key, KEY) != 0) {
        memcpy(names[at].key, key, KEY);
        names[at].len = (unsigned char)b58_key(key, names[at].name);
    }
    *len = names[at].len;
    return names[at].name;
}

/* ------------------------------------------------------------------ output */

typedef struct {
    unsigned char *p;
    size_t len, cap;
} Out;

/* Room for `n` more bytes. */
static int reserve(Out *o, size_t n) {
    if (o->cap - o->len >= n)
        return 0;
    size_t cap = o->cap ? o->cap : 4096;
    while (cap - o->len < n) {
        if (cap > PY_SSIZE_T_MAX / 2) {
            PyErr_NoMemory();
            return -1;
        }
        cap *= 2;
    }
    unsigned char *p = PyMem_Realloc(o->p, cap);
    if (!p) {
        PyErr_NoMemory();
        return -1;
    }
    o->p = p;
    o->cap = cap;
    return 0;
}

/* The writers below assume the room is reserved. */
static void put(Out *o, const void *src, size_t n) {
    memcpy(o->p + o->len, src, n);
    o->len += n;
}

static void put_byte(Out *o, unsigned char b) { o->p[o->len++] = b; }

static void put_be(Out *o, uint64_t x, int bytes) {
    for (int i = bytes - 1; i >= 0; i--)
        put_byte(o, (unsigned char)(x >> (8 * i)));
}

/* A non-negative integer as msgspec writes it: the smallest form. */
static void put_uint(Out *o, uint64_t x) {
    if (x < 128)
        put_byte(o, (unsigned char)x);
    else if (x <= 0xff) {
        put_byte(o, 0xcc);
        put_be(o, x, 1);
    } else if (x <= 0xffff) {
        put_byte(o, 0xcd);
        put_be(o, x, 2);
    } else if (x <= 0xffffffffu) {
        put_byte(o, 0xce);
        put_be(o, x, 4);
    } else {
        put_byte(o, 0xcf);
        put_be(o, x, 8);
    }
}

static void put_str(Out *o, const char *s, size_t n) {
    if (n < 32)
        put_byte(o, (unsigned char)(0xa0 | n));
    else if (n <= 0xff) {
        put_byte(o, 0xd9);
        put_be(o, n, 1);
    } else if (n <= 0xffff) {
        put_byte(o, 0xda);
        put_be(o, n, 2);
    } else {
        put_byte(o, 0xdb);
        put_be(o, n, 4);
    }
    put(o, s, n);
}

static void put_bin(Out *o, const unsigned char *s, size_t n) {
    if (n <= 0xff) {
        put_byte(o, 0xc4);
        put_be(o, n, 1);
    } else if (n <= 0xffff) {
        put_byte(o, 0xc5);
        put_be(o, n, 2);
    } else {
        put_byte(o, 0xc6);
        put_be(o, n, 4);
    }
    put(o, s, n);
}

static void put_array(Out *o, size_t n) {
    if (n < 16)
        put_byte(o, (unsigned char)(0x90 | n));
    else if (n <= 0xffff) {
        put_byte(o, 0xdc);
        put_be(o, n, 2);
    } else {
        put_byte(o, 0xdd);
        put_be(o, n, 4);
    }
}

/* Map keys, encoded (fixstr): `WritesBody`'s and `WriteBody`'s fields, in their order. */
#define LIT(s) s, sizeof(s) - 1
#define K_NUMBER LIT("\xa6number")
#define K_WRITES LIT("\xa6writes")
#define K_PUBKEY LIT("\xa6pubkey")
#define K_LAMPORTS LIT("\xa8lamports")
#define K_OWNER LIT("\xa5owner")
#define K_EXECUTABLE LIT("\xaa" "executable")
#define K_RENT_EPOCH LIT("\xaarent_epoch")
#define K_DATA LIT("\xa4" "data")
#define K_SIGNATURE LIT("\xa9signature")
#define K_WRITE_VERSION LIT("\xadwrite_version")
#define K_BEFORE LIT("\xa6" "before")
/* More than an account's six entries take besides its data (49 bytes of keys, two names of
 * at most 46, two integers of at most 9, a boolean, the data's header of at most 5: 165). */
#define FIELDS_MAX 192
/* More than a write's other entries take besides its signature's characters (its map's
 * header, three keys, the signature's header, its version, `before`'s map header: 47). */
#define WRITE_MAX 64

static uint64_t le64(const unsigned char *p) {
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--)
        x = x << 8 | p[i];
    return x;
}

/* `segments._write_fields`: the six `AccountBody` entries of an encoded account of `len`
 * (>= HEADER) bytes, named `name`. */
static void put_fields(Out *o, const char *name, int name_len, const unsigned char *raw,
                       size_t len) {
    int owner_len;
    const char *owner = name_of(raw + 17, &owner_len);
    put(o, K_PUBKEY);
    put_str(o, name, (size_t)name_len);
    put(o, K_LAMPORTS);
    put_uint(o, le64(raw));
    put(o, K_OWNER);
    put_str(o, owner, (size_t)owner_len);
    put(o, K_EXECUTABLE);
    put_byte(o, raw[16] ? 0xc3 : 0xc2);
    put(o, K_RENT_EPOCH);
    put_uint(o, le64(raw + 8));
    put(o, K_DATA);
    put_bin(o, raw + HEADER, len - HEADER);
}

/* ------------------------------------------------------------------ input */

typedef struct {
    const unsigned char *p, *end;
} In;

static int malformed(const char *what) {
    PyErr_Format(PyExc_ValueError, "malformed writes: %s", what);
    return -1;
}

static int take(In *in, size_t n, const unsigned char **at) {
    if ((size_t)(in->end - in->p) < n)
        return malformed("truncated");
    *at = in->p;
    in->p += n;
    return 0;
}

static int read_be(In *in, int bytes, uint64_t *x) {
    const unsigned char *p;
    if (take(in, (size_t)bytes, &p) < 0)
        return -1;
    *x = 0;
    for (int i = 0; i < bytes; i++)
        *x = *x << 8 | p[i];
    return 0;
}

static int read_array(In *in, size_t *n) {
    const unsigned char *p;
    uint64_t x;
    if (take(in, 1, &p) < 0)
        return -1;
    if ((*p & 0xf0) == 0x90) {
        *n = *p & 0x0f;
        return 0;
    }
    if (*p == 0xdc || *p == 0xdd) {
        if (read_be(in, *p == 0xdc ? 2 : 4, &x) < 0)
            return -1;
        *n = (size_t)x;
        return 0;
    }
    return malformed("expected an array");
}

/* A bin (or nil, where `nil` is given: `*nil` says which). */
static int read_bin(In *in, const unsigned char **s, size_t *n, int *nil) {
    const unsigned char *p;
    uint64_t x;
    if (take(in, 1, &p) < 0)
        return -1;
    if (*p == 0xc0 && nil) {
        *nil = 1;
        return 0;
    }
    if (*p < 0xc4 || *p > 0xc6)
        return malformed("expected bytes");
    if (read_be(in, *p == 0xc4 ? 1 : *p == 0xc5 ? 2 : 4, &x) < 0 || take(in, x, s) < 0)
        return -1;
    *n = (size_t)x;
    if (nil)
        *nil = 0;
    return 0;
}

/* An integer in any MessagePack form (a transaction index, or -1). */
static int read_int(In *in, int64_t *v) {
    const unsigned char *p;
    uint64_t x;
    if (take(in, 1, &p) < 0)
        return -1;
    unsigned char b = *p;
    if (b < 0x80) {
        *v = b;
        return 0;
    }
    if (b >= 0xe0) {
        *v = (int8_t)b;
        return 0;
    }
    if (b >= 0xcc && b <= 0xcf) {
        if (read_be(in, 1 << (b - 0xcc), &x) < 0)
            return -1;
        if (x > INT64_MAX)
            return malformed("transaction index out of range");
        *v = (int64_t)x;
        return 0;
    }
    if (b >= 0xd0 && b <= 0xd3) {
        int bytes = 1 << (b - 0xd0);
        if (read_be(in, bytes, &x) < 0)
            return -1;
        if (bytes < 8) { /* sign-extend */
            uint64_t sign = (uint64_t)1 << (8 * bytes - 1);
            x = (x ^ sign) - sign;
        }
        *v = (int64_t)x;
        return 0;
    }
    return malformed("expected an integer");
}

/* ------------------------------------------------------------------ the accounts' values */

/* Each written key's current value, in an open-addressing table: the value before the block,
 * then each write's. Values point into the segment's buffer. */
typedef struct {
    const unsigned char *key; /* NULL: empty slot */
    const unsigned char *value; /* NULL: absent (nil) */
    size_t len;
} Slot;

typedef struct {
    Slot *slots;
    size_t mask;
} Table;

static Slot *slot_of(Table *t, const unsigned char *key) {
    size_t i = (size_t)(key_hash(key) >> 20) & t->mask;
    while (t->slots[i].key && memcmp(t->slots[i].key, key, KEY) != 0)
        i = (i + 1) & t->mask;
    if (!t->slots[i].key) {
        t->slots[i].key = key;
        t->slots[i].value = NULL;
    }
    return &t->slots[i];
}

/* ------------------------------------------------------------------ the message */

static PyObject *writes_message(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *number_obj, *signatures;
    Py_buffer wb, bb;
    if (!PyArg_ParseTuple(args, "Oy*y*O:writes_message", &number_obj, &wb, &bb, &signatures))
        return NULL;
    /* Checked, unlike "K": a negative number raises rather than wraps. */
    unsigned long long number = PyLong_AsUnsignedLongLong(number_obj);
    if (number == (unsigned long long)-1 && PyErr_Occurred()) {
        PyBuffer_Release(&wb);
        PyBuffer_Release(&bb);
        return NULL;
    }
    PyObject *result = NULL, *sigs = NULL;
    Out o = {NULL, 0, 0};
    Table t = {NULL, 0};
    In win = {wb.buf, (const unsigned char *)wb.buf + wb.len};
    In bin = {bb.buf, (const unsigned char *)bb.buf + bb.len};
    size_t nw, nb;
    if (!(sigs = PySequence_Fast(signatures, "signatures must be a sequence")))
        goto done;
    if (read_array(&win, &nw) < 0 || read_array(&bin, &nb) < 0)
        goto done;
    if (nw > (size_t)wb.len || nb > (size_t)bb.len) { /* each entry takes bytes */
        malformed("truncated");
        goto done;
    }
    size_t cap = 16;
    while (cap < 2 * (nw + nb))
        cap *= 2;
    if (!(t.slots = PyMem_Calloc(cap, sizeof(Slot)))) {
        PyErr_NoMemory();
        goto done;
    }
    t.mask = cap - 1;
    for (size_t i = 0; i < nb; i++) {
        size_t n, klen, vlen;
        const unsigned char *key, *value;
        int nil;
        if (read_array(&bin, &n) < 0 || read_bin(&bin, &key, &klen, NULL) < 0 ||
            read_bin(&bin, &value, &vlen, &nil) < 0)
            goto done;
        if (n != 2 || klen != KEY || (!nil && vlen < HEADER)) {
            malformed("a value before the block");
            goto done;
        }
        Slot *s = slot_of(&t, key); /* a key listed twice: the last one, as dict() takes it */
        s->value = nil ? NULL : value;
        s->len = nil ? 0 : vlen;
    }
    if (bin.p != bin.end) {
        malformed("trailing bytes");
        goto done;
    }
    if (reserve(&o, 64 + (size_t)wb.len * 2) < 0)
        goto done;
    put_byte(&o, 0x82);
    put(&o, K_NUMBER);
    put_uint(&o, number);
    put(&o, K_WRITES);
    put_array(&o, nw);
    Py_ssize_t nsigs = PySequence_Fast_GET_SIZE(sigs);
    PyObject **sig_items = PySequence_Fast_ITEMS(sigs);
    for (size_t version = 0; version < nw; version++) {
        size_t n, klen, vlen;
        const unsigned char *key, *raw;
        int64_t tx;
        if (read_array(&win, &n) < 0 || read_bin(&win, &key, &klen, NULL) < 0 ||
            read_bin(&win, &raw, &vlen, NULL) < 0 || read_int(&win, &tx) < 0)
            goto done;
        if (n != 3 || klen != KEY || vlen < HEADER) {
            malformed("a write");
            goto done;
        }
        const char *sig = NULL;
        Py_ssize_t sig_len = 0;
        if (tx >= 0) {
            if (tx >= nsigs) {
                PyErr_SetString(PyExc_IndexError, "a write's transaction index is out of range");
                goto done;
            }
            PyObject *item = sig_items[tx];
            if (item != Py_None) {
                if (!PyUnicode_Check(item)) {
                    PyErr_SetString(PyExc_TypeError, "a signature must be str or None");
                    goto done;
                }
                if (!(sig = PyUnicode_AsUTF8AndSize(item, &sig_len)))
                    goto done;
            }
        }
        Slot *s = slot_of(&t, key);
        /* A copy: the owners' names, looked up meanwhile, may take the cache's entry. */
        char name[44];
        int name_len;
        memcpy(name, name_of(key, &name_len), sizeof name);
        if (reserve(&o, 2 * FIELDS_MAX + WRITE_MAX + (size_t)sig_len + vlen + s->len) < 0)
            goto done;
        put_byte(&o, 0x89);
        put_fields(&o, name, name_len, raw, vlen);
        put(&o, K_SIGNATURE);
        if (sig)
            put_str(&o, sig, (size_t)sig_len);
        else
            put_byte(&o, 0xc0);
        put(&o, K_WRITE_VERSION);
        put_uint(&o, version);
        put(&o, K_BEFORE);
        if (s->value) {
            put_byte(&o, 0x86);
            put_fields(&o, name, name_len, s->value, s->len);
        } else
            put_byte(&o, 0xc0);
        s->value = raw;
        s->len = vlen;
    }
    if (win.p != win.end) {
        malformed("trailing bytes");
        goto done;
    }
    result = PyBytes_FromStringAndSize((const char *)o.p, (Py_ssize_t)o.len);
done:
    PyMem_Free(o.p);
    PyMem_Free(t.slots);
    Py_XDECREF(sigs);
    PyBuffer_Release(&wb);
    PyBuffer_Release(&bb);
    return result;
}

static PyObject *b58_key_py(PyObject *Py_UNUSED(module), PyObject *arg) {
    Py_buffer b;
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0)
        return NULL;
    if (b.len != KEY) {
        PyBuffer_Release(&b);
        PyErr_SetString(PyExc_ValueError, "a key is 32 bytes");
        return NULL;
    }
    char out[44];
    int n = b58_key(b.buf, out);
    PyBuffer_Release(&b);
    return PyUnicode_FromStringAndSize(out, n);
}

static PyMethodDef methods[] = {
    {"writes_message", writes_message, METH_VARARGS,
     "writes_message(number, writes, written_before, signatures)\n--\n\nThe MessagePack of a "
     "block's `writes` message, from its segment's two arrays (segments.writes_message)."},
    {"b58_key", b58_key_py, METH_O,
     "b58_key(key)\n--\n\nA 32-byte key in base58, as this module names keys (for the tests)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_segments", "The stream's `writes` message in C.", -1, methods,
};

PyMODINIT_FUNC PyInit__segments(void) { return PyModule_Create(&module); }
