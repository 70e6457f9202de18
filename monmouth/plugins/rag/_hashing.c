/*
 * The hashing embedder's learning and numeric part, in C (monmouth.plugins.rag._hashing).
 *
 * `HashingEmbedder.embed_words` turns a block's summaries into unit vectors; in numpy (unique,
 * argsort, bincount, a Python float per square for `math.fsum`) it costs about 10 us a text
 * once the words are known, most of it the overhead of small array operations and Python
 * objects. Here it is one pass over the words, about 2.5 us a text, half of it dict lookups.
 * `HashingEmbedder._embed_words_numpy` is the definition this code is held equal to, bit for bit
 * (the tests compare bytes): the vectors are the same on every machine, so every floating-point
 * operation is the one numpy does, in the order numpy does it:
 *
 *   - per text, each distinct feature once, in the order it first appears in the text, adds
 *     `signs[f] * sqrt(count)` to its column of a row of doubles that starts at 0.0 (bincount
 *     adds in input order); setup.py builds this file with -ffp-contract=off, so the multiply
 *     and the add are never fused into one differently rounded operation;
 *   - the norm is sqrt of the exactly rounded sum of the squares of the row's non-zero entries:
 *     CPython's `math.fsum` (Shewchuk's algorithm, ported from Modules/mathmodule.c with its
 *     half-way rounding correction), so no summation order or SIMD width can change it;
 *   - a norm of 0 (a text without features) becomes 1, and each entry is `row[j] / norm` in
 *     double, rounded once to float32.
 *
 * Learning new words is here too (`learn`, about 1 us a word against 3 in Python, most of it
 * the dicts' memory). `HashingEmbedder._learn_py` is its definition, held equal in effect (the
 * same dict entries in the same order, the same columns and signs): a word's feature is
 * Python's (`str.lower`, called for words that are not ASCII), its hash BLAKE2b with an 8-byte
 * digest (RFC 7693, below), as hashlib gives it. `missing` names the words a batch needs
 * learnt, `learn` learns them, `embed` then only reads the caches. Bad input raises TypeError,
 * ValueError or KeyError; nothing is trusted to stay unchanged while a dict lookup could run
 * Python code (an odd key's __eq__), so a batch changed under our feet gives odd rows, never a
 * crash.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* A feature cache's int64 array ('q', or 'l' where long is 64 bits) or float64 ('d'), used
   in place: C-contiguous, one dimension, native byte order, and writable if `writable`. */
static int get_array(PyObject *obj, Py_buffer *view, char code, const char *name, int writable) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s must be a C-contiguous %s array", name,
                     code == 'd' ? "float64" : "int64");
        return -1;
    }
    const char *format = view->format ? view->format : "B";
    if (*format == '@' || *format == '=')
        format++;
#if PY_LITTLE_ENDIAN
    else if (*format == '<')
        format++;
#else
    else if (*format == '>')
        format++;
#endif
    int ok = view->ndim == 1 && view->itemsize == 8 && format[0] != '\0' && format[1] == '\0';
    if (ok)
        ok = code == 'd' ? format[0] == 'd'
                         : format[0] == 'q' || (format[0] == 'l' && sizeof(long) == 8);
    if (!ok) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_TypeError, "%s must be a C-contiguous %s array", name,
                     code == 'd' ? "float64" : "int64");
        return -1;
    }
    if (writable && view->readonly) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_ValueError, "%s must be writable", name);
        return -1;
    }
    return 0;
}

/* A text's words, a list of str, or TypeError. */
static int check_text(PyObject *text) {
    if (!PyList_Check(text)) {
        PyErr_Format(PyExc_TypeError, "each text's words must be a list of str, not %.100s",
                     Py_TYPE(text)->tp_name);
        return -1;
    }
    return 0;
}

static int check_word(PyObject *word) {
    /* Exactly str: a subclass's __hash__ or __eq__ would be Python code inside the lookups. */
    if (!PyUnicode_CheckExact(word)) {
        PyErr_Format(PyExc_TypeError, "words must be str, not %.100s", Py_TYPE(word)->tp_name);
        return -1;
    }
    return 0;
}

static PyObject *missing(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *words, *word_ids;
    if (!PyArg_ParseTuple(args, "OO!:missing", &words, &PyDict_Type, &word_ids))
        return NULL;
    /* A tuple holds its texts while lookups run (a list could shrink under us). */
    PyObject *texts = PySequence_Tuple(words);
    if (!texts)
        return NULL;
    PyObject *out = PyList_New(0), *seen = NULL;
    if (!out)
        goto fail;
    for (Py_ssize_t t = 0; t < PyTuple_GET_SIZE(texts); t++) {
        PyObject *text = PyTuple_GET_ITEM(texts, t);
        if (check_text(text) < 0)
            goto fail;
        /* Sizes are read again each step: the list may change while a lookup runs. */
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(text); i++) {
            PyObject *word = PyList_GET_ITEM(text, i);
            if (check_word(word) < 0)
                goto fail;
            Py_INCREF(word);
            int known = PyDict_Contains(word_ids, word);
            if (known == 0) {
                /* First appearance over the batch, as `dict.fromkeys` orders them. */
                if (!seen && !(seen = PySet_New(NULL)))
                    known = -1;
                else if ((known = PySet_Contains(seen, word)) == 0)
                    known = PySet_Add(seen, word) < 0 || PyList_Append(out, word) < 0 ? -1 : 1;
            }
            Py_DECREF(word);
            if (known < 0)
                goto fail;
        }
    }
    Py_DECREF(texts);
    Py_XDECREF(seen);
    return out;
fail:
    Py_DECREF(texts);
    Py_XDECREF(seen);
    Py_XDECREF(out);
    return NULL;
}

/* BLAKE2b, RFC 7693 (https://www.rfc-editor.org/rfc/rfc7693), unkeyed, with an 8-byte digest:
   what `hashlib.blake2b(data, digest_size=8)` computes. The digest length is part of the
   parameter block xored into h[0] (section 2.5: 0x01010000 ^ (key length << 8) ^ digest
   length), so this is not the first 8 bytes of BLAKE2b-512. The digest is h[0]'s first 8
   bytes, little-endian, returned here as the integer `int.from_bytes(digest, "little")`. */
static const uint64_t blake2b_iv[8] = {
    UINT64_C(0x6A09E667F3BCC908), UINT64_C(0xBB67AE8584CAA73B), UINT64_C(0x3C6EF372FE94F82B),
    UINT64_C(0xA54FF53A5F1D36F1), UINT64_C(0x510E527FADE682D1), UINT64_C(0x9B05688C2B3E6C1F),
    UINT64_C(0x1F83D9ABFB41BD6B), UINT64_C(0x5BE0CD19137E2179),
};

/* The message schedule (section 2.7); rounds 10 and 11 use rows 0 and 1 again. */
static const uint8_t blake2b_sigma[12][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
};

static inline uint64_t rotr64(uint64_t x, int n) { return (x >> n) | (x << (64 - n)); }

/* The mixing function G (section 3.1), rotations R1..R4 = 32, 24, 16, 63. */
#define BLAKE2B_G(a, b, c, d, x, y)                                                                \
    do {                                                                                           \
        v[a] = v[a] + v[b] + (x);                                                                  \
        v[d] = rotr64(v[d] ^ v[a], 32);                                                            \
        v[c] = v[c] + v[d];                                                                        \
        v[b] = rotr64(v[b] ^ v[c], 24);                                                            \
        v[a] = v[a] + v[b] + (y);                                                                  \
        v[d] = rotr64(v[d] ^ v[a], 16);                                                            \
        v[c] = v[c] + v[d];                                                                        \
        v[b] = rotr64(v[b] ^ v[c], 63);                                                            \
    } while (0)

/* The compression function F (section 3.2) on one 128-byte block; `t` counts the bytes so far
   (its high 64 bits are 0 for any message that fits in memory), `last` marks the final block. */
static void blake2b_compress(uint64_t h[8], const unsigned char block[128], uint64_t t, int last) {
    uint64_t m[16], v[16];
    for (int i = 0; i < 16; i++) {
        const unsigned char *p = block + 8 * i; /* words are little-endian */
        m[i] = (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
               (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
               (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
    }
    for (int i = 0; i < 8; i++) {
        v[i] = h[i];
        v[i + 8] = blake2b_iv[i];
    }
    v[12] ^= t;
    if (last)
        v[14] = ~v[14];
    /* The twelve rounds written out: constant schedule indices, a quarter faster than a loop. */
#define BLAKE2B_ROUND(r)                                                                           \
    do {                                                                                           \
        const uint8_t *s = blake2b_sigma[r];                                                       \
        BLAKE2B_G(0, 4, 8, 12, m[s[0]], m[s[1]]);                                                  \
        BLAKE2B_G(1, 5, 9, 13, m[s[2]], m[s[3]]);                                                  \
        BLAKE2B_G(2, 6, 10, 14, m[s[4]], m[s[5]]);                                                 \
        BLAKE2B_G(3, 7, 11, 15, m[s[6]], m[s[7]]);                                                 \
        BLAKE2B_G(0, 5, 10, 15, m[s[8]], m[s[9]]);                                                 \
        BLAKE2B_G(1, 6, 11, 12, m[s[10]], m[s[11]]);                                               \
        BLAKE2B_G(2, 7, 8, 13, m[s[12]], m[s[13]]);                                                \
        BLAKE2B_G(3, 4, 9, 14, m[s[14]], m[s[15]]);                                                \
    } while (0)
    BLAKE2B_ROUND(0);
    BLAKE2B_ROUND(1);
    BLAKE2B_ROUND(2);
    BLAKE2B_ROUND(3);
    BLAKE2B_ROUND(4);
    BLAKE2B_ROUND(5);
    BLAKE2B_ROUND(6);
    BLAKE2B_ROUND(7);
    BLAKE2B_ROUND(8);
    BLAKE2B_ROUND(9);
    BLAKE2B_ROUND(10);
    BLAKE2B_ROUND(11);
#undef BLAKE2B_ROUND
    for (int i = 0; i < 8; i++)
        h[i] ^= v[i] ^ v[i + 8];
}

/* BLAKE2b-64 of `data` (section 3.3: every block but the last compressed as it comes; the last,
   zero-padded, flagged final; an empty message is one final block of zeros). */
static uint64_t blake2b64(const unsigned char *data, size_t length) {
    uint64_t h[8];
    memcpy(h, blake2b_iv, sizeof(h));
    h[0] ^= UINT64_C(0x01010000) ^ 8; /* depth 1, fanout 1, no key, 8-byte digest */
    uint64_t t = 0;
    while (length > 128) {
        t += 128;
        blake2b_compress(h, data, t, 0);
        data += 128;
        length -= 128;
    }
    unsigned char block[128] = {0};
    if (length)
        memcpy(block, data, length);
    blake2b_compress(h, block, t + length, 1);
    return h[0];
}

static PyObject *blake2b64_py(PyObject *Py_UNUSED(module), PyObject *args) {
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*:blake2b64", &data))
        return NULL;
    uint64_t digest = blake2b64(data.buf, (size_t)data.len);
    PyBuffer_Release(&data);
    return PyLong_FromUnsignedLongLong(digest);
}

/* Made once, at import: the features' prefixes, the name of str.lower, the id of a stop word. */
static PyObject *prefix_k, *prefix_w, *name_lower, *stop_id;

/* `word.lower()`: for ASCII words here (A-Z to a-z, as str.lower does them; a word without
   capitals is its own lower case), for the others str.lower itself, whose Unicode rules
   ("İ" becomes two code points, "K" the Kelvin sign "k") are not ours to copy. */
static PyObject *lower_of(PyObject *word) {
    if (!PyUnicode_IS_ASCII(word))
        return PyObject_CallMethodObjArgs(word, name_lower, NULL);
    Py_ssize_t length = PyUnicode_GET_LENGTH(word), i = 0;
    const Py_UCS1 *chars = PyUnicode_1BYTE_DATA(word);
    while (i < length && !(chars[i] >= 'A' && chars[i] <= 'Z'))
        i++;
    if (i == length) {
        Py_INCREF(word);
        return word;
    }
    PyObject *lower = PyUnicode_New(length, 127);
    if (!lower)
        return NULL;
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(lower);
    memcpy(out, chars, (size_t)i);
    for (; i < length; i++)
        out[i] = chars[i] >= 'A' && chars[i] <= 'Z' ? chars[i] + ('a' - 'A') : chars[i];
    return lower;
}

/* `HashingEmbedder._learn_py` (its definition) in C: each word, in order, gets its feature's
   id in `word_ids` (-1 for a stop word); a feature not in `feature_ids` gets the next id (from
   `size` on), and that id its column (hash % dimensions) and sign (the hash's top bit: -1.0)
   in `cols` and `signs`, which must have room for `size + len(words)` ids (checked first).
   Returns the new size. A word must be exactly str, checked for all before anything changes;
   an error later (memory, a bad UTF-8 encoding, a dict key's Python code) leaves the caches
   partly updated, for the caller to forget. */
static PyObject *learn(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *words, *word_ids, *feature_ids, *stopwords, *cols_obj, *signs_obj;
    Py_ssize_t size, dims;
    if (!PyArg_ParseTuple(args, "OO!O!OOOnn:learn", &words, &PyDict_Type, &word_ids, &PyDict_Type,
                          &feature_ids, &stopwords, &cols_obj, &signs_obj, &size, &dims))
        return NULL;
    if (!PyAnySet_Check(stopwords)) {
        PyErr_Format(PyExc_TypeError, "stopwords must be a set or frozenset, not %.100s",
                     Py_TYPE(stopwords)->tp_name);
        return NULL;
    }
    if (dims < 1) {
        PyErr_SetString(PyExc_ValueError, "dimensions must be at least 1");
        return NULL;
    }
    if (size < 0) {
        PyErr_SetString(PyExc_ValueError, "size must not be negative");
        return NULL;
    }
    Py_buffer cols_view = {0}, signs_view = {0};
    PyObject *texts = NULL, *candidate = NULL, *out = NULL;
    if (get_array(cols_obj, &cols_view, 'q', "cols", 1) < 0)
        return NULL;
    if (get_array(signs_obj, &signs_view, 'd', "signs", 1) < 0) {
        PyBuffer_Release(&cols_view);
        return NULL;
    }
    int64_t *cols = cols_view.buf;
    double *signs = signs_view.buf;
    /* A tuple holds the words while dict operations run (a list could change under us). */
    if (!(texts = PySequence_Tuple(words)))
        goto done;
    Py_ssize_t count = PyTuple_GET_SIZE(texts);
    for (Py_ssize_t i = 0; i < count; i++)
        if (check_word(PyTuple_GET_ITEM(texts, i)) < 0)
            goto done;
    Py_ssize_t capacity = cols_view.len / 8 < signs_view.len / 8 ? cols_view.len / 8
                                                                 : signs_view.len / 8;
    /* Each word adds at most one id: ids stay below size + count <= capacity. */
    if (size > capacity || count > capacity - size) {
        PyErr_Format(PyExc_ValueError,
                     "cols and signs hold %zd ids, short of size + len(words) = %zd + %zd",
                     capacity, size, count);
        goto done;
    }
    Py_ssize_t next = size;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *word = PyTuple_GET_ITEM(texts, i), *feature, *fid;
        if (PyUnicode_GET_LENGTH(word) >= 32) {
            feature = PyUnicode_Concat(prefix_k, word); /* a key or signature, case kept */
        } else {
            PyObject *lower = lower_of(word);
            if (!lower)
                goto done;
            int stop = PySet_Contains(stopwords, lower);
            if (stop != 0) {
                Py_DECREF(lower);
                if (stop < 0 || PyDict_SetItem(word_ids, word, stop_id) < 0)
                    goto done;
                continue;
            }
            feature = PyUnicode_Concat(prefix_w, lower);
            Py_DECREF(lower);
        }
        if (!feature)
            goto done;
        /* One lookup: the feature's id, or the next id, stored, if the feature is new (the
           candidate, kept for the next word if not). The ids in feature_ids are below size, so
           none is the candidate itself (a cached small int for an id below 257). */
        if (!candidate && !(candidate = PyLong_FromSsize_t(next))) {
            Py_DECREF(feature);
            goto done;
        }
        fid = PyDict_SetDefault(feature_ids, feature, candidate); /* borrowed */
        if (!fid) {
            Py_DECREF(feature);
            goto done;
        }
        Py_INCREF(fid);
        if (fid == candidate) {
            Py_CLEAR(candidate);
            /* str.encode(): UTF-8, UnicodeEncodeError for a lone surrogate. */
            Py_ssize_t length;
            const char *utf8 = PyUnicode_AsUTF8AndSize(feature, &length);
            if (!utf8) {
                Py_DECREF(fid);
                Py_DECREF(feature);
                goto done;
            }
            /* The hash modulo the dimensions picks the column, its top bit the sign. */
            uint64_t digest = blake2b64((const unsigned char *)utf8, (size_t)length);
            cols[next] = (int64_t)(digest % (uint64_t)dims);
            signs[next] = digest >> 63 ? -1.0 : 1.0;
            next++;
        }
        Py_DECREF(feature);
        int failed = PyDict_SetItem(word_ids, word, fid) < 0;
        Py_DECREF(fid);
        if (failed)
            goto done;
    }
    out = PyLong_FromSsize_t(next);
done:
    PyBuffer_Release(&cols_view);
    PyBuffer_Release(&signs_view);
    Py_XDECREF(texts);
    Py_XDECREF(candidate);
    return out;
}

/* A distinct feature of the current text: its id, its column, how often it appears, and its
   slot in the hash table (cleared after the text, so no table-sized memset per text). */
typedef struct {
    int64_t fid, col;
    Py_ssize_t count, slot;
} Feature;

/* Per-call scratch, grown to the longest text: the text's distinct features in order of first
   appearance, and an open-addressing table (linear probing, power-of-two size, at most half
   full) from feature id to its index in `features`; an empty slot's key is -1. */
typedef struct {
    Feature *features;
    int64_t *keys;
    Py_ssize_t *index;
    Py_ssize_t capacity; /* words a text may have */
    size_t mask;         /* table size - 1 */
    int shift;           /* 64 - log2(table size): a slot is a hash's top bits */
} Scratch;

static void scratch_free(Scratch *s) {
    PyMem_Free(s->features);
    PyMem_Free(s->keys);
    PyMem_Free(s->index);
    memset(s, 0, sizeof(*s));
}

static int scratch_reserve(Scratch *s, Py_ssize_t words) {
    if (words <= s->capacity)
        return 0;
    Py_ssize_t capacity = 64;
    int shift = 64 - 7; /* the table is twice the capacity: 128 slots */
    while (capacity < words) {
        capacity *= 2;
        shift--;
    }
    size_t table = 2 * (size_t)capacity;
    scratch_free(s);
    if ((size_t)capacity > PY_SSIZE_T_MAX / sizeof(Feature) ||
        table > PY_SSIZE_T_MAX / sizeof(int64_t) ||
        !(s->features = PyMem_New(Feature, capacity)) || !(s->keys = PyMem_New(int64_t, table)) ||
        !(s->index = PyMem_New(Py_ssize_t, table))) {
        scratch_free(s);
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < table; i++)
        s->keys[i] = -1;
    s->capacity = capacity;
    s->mask = table - 1;
    s->shift = shift;
    return 0;
}

/* CPython's math.fsum (Modules/mathmodule.c, math_fsum) over `count` finite values: Shewchuk's
   non-overlapping partials, then their sum from the top with the half-way correction that makes
   the result exactly rounded. `p` has room for `count` doubles: each value adds at most one
   partial. The values here are squares of sums of a text's square roots, far from overflowing,
   so math_fsum's handling of infinities and intermediate overflow is left out. */
static double fsum(const double *values, Py_ssize_t count, double *p) {
    Py_ssize_t n = 0;
    double x, y, t, hi, yr, lo = 0.0;
    for (Py_ssize_t k = 0; k < count; k++) {
        x = values[k];
        Py_ssize_t i = 0;
        for (Py_ssize_t j = 0; j < n; j++) { /* for y in partials */
            y = p[j];
            if (fabs(x) < fabs(y)) {
                t = x;
                x = y;
                y = t;
            }
            hi = x + y;
            yr = hi - x;
            lo = y - yr;
            if (lo != 0.0)
                p[i++] = lo;
            x = hi;
        }
        n = i; /* partials[i:] = [x] */
        if (x != 0.0)
            p[n++] = x;
    }
    hi = 0.0;
    if (n > 0) {
        hi = p[--n];
        /* Sum the partials from the top, stop when the sum becomes inexact. */
        while (n > 0) {
            x = hi;
            y = p[--n];
            hi = x + y;
            yr = hi - x;
            lo = y - yr;
            if (lo != 0.0)
                break;
        }
        /* Half-even rounding across partials: `lo` may be exactly half a unit in the last
           place of hi, rounded to even, while the partials below push the true sum past the
           half-way point; then the sum rounds the other way (fsum([1e-16, 1, 1e16])). */
        if (n > 0 && ((lo < 0.0 && p[n - 1] < 0.0) || (lo > 0.0 && p[n - 1] > 0.0))) {
            y = lo * 2.0;
            x = hi + y;
            yr = x - hi;
            if (y == yr)
                hi = x;
        }
    }
    return hi;
}

static PyObject *embed(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *words, *word_ids, *cols_obj, *signs_obj;
    Py_ssize_t dims;
    if (!PyArg_ParseTuple(args, "OO!OOn:embed", &words, &PyDict_Type, &word_ids, &cols_obj,
                          &signs_obj, &dims))
        return NULL;
    if (dims < 1) {
        PyErr_SetString(PyExc_ValueError, "dimensions must be at least 1");
        return NULL;
    }
    Py_buffer cols_view = {0}, signs_view = {0};
    PyObject *texts = NULL, *out = NULL;
    Scratch s = {0};
    double *row = NULL, *squares = NULL, *partials = NULL;
    if (get_array(cols_obj, &cols_view, 'q', "cols", 0) < 0)
        return NULL;
    if (get_array(signs_obj, &signs_view, 'd', "signs", 0) < 0) {
        PyBuffer_Release(&cols_view);
        return NULL;
    }
    const int64_t *cols = cols_view.buf;
    const double *signs = signs_view.buf;
    /* Feature ids index both arrays. */
    Py_ssize_t features = cols_view.len / 8 < signs_view.len / 8 ? cols_view.len / 8
                                                                 : signs_view.len / 8;
    if (!(texts = PySequence_Tuple(words)))
        goto fail;
    Py_ssize_t count = PyTuple_GET_SIZE(texts);
    if ((size_t)dims > PY_SSIZE_T_MAX / sizeof(double) ||
        (count && (size_t)dims > PY_SSIZE_T_MAX / sizeof(float) / (size_t)count)) {
        PyErr_NoMemory();
        goto fail;
    }
    /* A bytearray, so that the array numpy wraps around it is writable like astype's was. */
    if (!(out = PyByteArray_FromStringAndSize(NULL, count * dims * (Py_ssize_t)sizeof(float))))
        goto fail;
    float *vectors = (float *)PyByteArray_AS_STRING(out);
    if (!(row = PyMem_New(double, dims)) || !(squares = PyMem_New(double, dims)) ||
        !(partials = PyMem_New(double, dims))) {
        PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t j = 0; j < dims; j++)
        row[j] = 0.0;
    for (Py_ssize_t t = 0; t < count; t++) {
        PyObject *text = PyTuple_GET_ITEM(texts, t);
        if (check_text(text) < 0)
            goto fail;
        /* Words beyond the length found here (a list grown by a lookup's Python code) are not
           read: the scratch is sized for these. */
        Py_ssize_t length = PyList_GET_SIZE(text), distinct = 0;
        if (scratch_reserve(&s, length) < 0)
            goto fail;
        for (Py_ssize_t i = 0; i < length && i < PyList_GET_SIZE(text); i++) {
            PyObject *word = PyList_GET_ITEM(text, i);
            if (check_word(word) < 0)
                goto fail;
            Py_INCREF(word);
            PyObject *value = PyDict_GetItemWithError(word_ids, word); /* borrowed */
            if (!value) {
                if (!PyErr_Occurred())
                    PyErr_SetObject(PyExc_KeyError, word); /* not learnt: `missing` first */
                Py_DECREF(word);
                goto fail;
            }
            Py_DECREF(word);
            if (!PyLong_CheckExact(value)) {
                PyErr_Format(PyExc_TypeError, "feature ids must be int, not %.100s",
                             Py_TYPE(value)->tp_name);
                goto fail;
            }
            int overflow;
            long long fid = PyLong_AsLongLongAndOverflow(value, &overflow);
            if (fid == -1 && !overflow)
                continue; /* a stop word */
            if (overflow || fid < 0 || fid >= features) {
                PyErr_Format(PyExc_ValueError,
                             "feature id out of range (%zd features in cols and signs)",
                             features);
                goto fail;
            }
            /* Fibonacci hashing: feature ids are small consecutive integers. */
            size_t slot = (size_t)(((uint64_t)fid * UINT64_C(0x9E3779B97F4A7C15)) >> s.shift);
            while (s.keys[slot] != -1 && s.keys[slot] != fid)
                slot = (slot + 1) & s.mask;
            if (s.keys[slot] == fid) {
                s.features[s.index[slot]].count++;
                continue;
            }
            /* The column is read once, here, and checked: the array may be any caller's. */
            int64_t col = cols[fid];
            if (col < 0 || col >= dims) {
                PyErr_Format(PyExc_ValueError, "column %lld out of range for %zd dimensions",
                             (long long)col, dims);
                goto fail;
            }
            s.keys[slot] = fid;
            s.index[slot] = distinct;
            s.features[distinct++] = (Feature){fid, col, 1, (Py_ssize_t)slot};
        }
        /* The row (all zeros between texts): each distinct feature in order of first
           appearance, as bincount adds. */
        for (Py_ssize_t d = 0; d < distinct; d++) {
            Feature *f = &s.features[d];
            row[f->col] += signs[f->fid] * sqrt((double)f->count);
            s.keys[f->slot] = -1;
        }
        /* The exactly rounded norm of the non-zero entries, in column order. */
        Py_ssize_t filled = 0;
        for (Py_ssize_t j = 0; j < dims; j++)
            if (row[j] != 0.0) {
                squares[filled++] = row[j] * row[j];
            }
        double norm = sqrt(fsum(squares, filled, partials));
        if (norm == 0.0)
            norm = 1.0; /* a text without features: the zero vector */
        /* Columns no feature touched are +0.0, as 0.0 / norm is; the others are divided (and
           a column touched twice written twice), then the row is made zeros again. */
        float *vector = vectors + t * dims;
        memset(vector, 0, (size_t)dims * sizeof(float));
        for (Py_ssize_t d = 0; d < distinct; d++)
            vector[s.features[d].col] = (float)(row[s.features[d].col] / norm);
        for (Py_ssize_t d = 0; d < distinct; d++)
            row[s.features[d].col] = 0.0;
    }
    goto done;
fail:
    Py_CLEAR(out);
done:
    PyBuffer_Release(&cols_view);
    PyBuffer_Release(&signs_view);
    Py_XDECREF(texts);
    scratch_free(&s);
    PyMem_Free(row);
    PyMem_Free(squares);
    PyMem_Free(partials);
    return out;
}

static PyMethodDef methods[] = {
    {"missing", missing, METH_VARARGS,
     "missing(words, word_ids)\n--\n\nThe distinct words of a batch (a sequence of lists of str) "
     "that are not keys of word_ids, in order of first appearance."},
    {"embed", embed, METH_VARARGS,
     "embed(words, word_ids, cols, signs, dimensions)\n--\n\nThe batch's unit vectors, float32 "
     "rows of `dimensions` one after the other, as a bytearray: word_ids maps each word to its "
     "feature id (-1: a stop word), cols (int64) and signs (float64) give each feature id its "
     "column and sign."},
    {"learn", learn, METH_VARARGS,
     "learn(words, word_ids, feature_ids, stopwords, cols, signs, size, dimensions)\n--\n\n"
     "HashingEmbedder._learn_py in C: each word gets its feature's id in word_ids (-1: a stop "
     "word), each new feature the next id from size on and its column and sign in cols "
     "(int64) and signs (float64), which need room for size + len(words) ids. Returns the new "
     "size."},
    {"blake2b64", blake2b64_py, METH_VARARGS,
     "blake2b64(data)\n--\n\nThe C BLAKE2b with an 8-byte digest, as an int: "
     "int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), 'little'). For tests."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_hashing", "The hashing embedder's numeric part, in C.", -1, methods,
};

PyMODINIT_FUNC PyInit__hashing(void) {
    if (!prefix_k && !(prefix_k = PyUnicode_InternFromString("k:")))
        return NULL;
    if (!prefix_w && !(prefix_w = PyUnicode_InternFromString("w:")))
        return NULL;
    if (!name_lower && !(name_lower = PyUnicode_InternFromString("lower")))
        return NULL;
    if (!stop_id && !(stop_id = PyLong_FromLong(-1)))
        return NULL;
    return PyModule_Create(&module);
}
