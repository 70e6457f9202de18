/*
 * One executed transaction's document, put together in C (monmouth.plugins.rag._summary).
 *
 * The rag index makes a document for every transaction the node executes, in its child
 * process; in Python (`documents.summarize_changes_py`, the definition and the reference the
 * tests hold this one to) that cost about 55 us a document on this machine kind, a third of
 * the child's time; here a transfer's costs about 8. Here the per-transaction
 * work (balance movements, instruction kinds, the summary's lines and words, the Document) is
 * done in C; what repeats from one transaction to the next (what logs say, the words of the
 * kinds and programs lines, base58 keys, an error's text) stays in Python's cached helpers,
 * which `configure` hands over once.
 *
 * Whatever falls outside the common case (an integer beyond 64 bits, a changes mapping that
 * is not a dict, a value of an unexpected type) makes `summarize` return None, and the caller
 * runs the Python definition instead: the document is the same either way.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef __int128 i128;
typedef unsigned __int128 u128;

/* The helpers `configure` receives (documents.py), in this order. */
enum {
    H_LOG_FACTS,           /* (logs, max_log_lines) -> _LogFacts */
    H_LOG_CACHE,           /* its cache (a dict by (logs, max_log_lines)), read first */
    H_ERROR_TEXT,          /* (error, invoked) -> (text, index or None) */
    H_ENCODE_KEY,          /* (key) -> base58 */
    H_KEY_CACHE,           /* its cache (a dict by key), read first */
    H_SIGNATURE,           /* solders' Signature.from_bytes: its str() is the base58 */
    H_KINDS_TEXT,          /* (instructions) -> (text, words) */
    H_KINDS_CACHE,         /* its cache, read first */
    H_PROGRAM_WORDS,       /* (programs) -> words */
    H_PROGRAM_WORDS_CACHE, /* its cache, read first */
    H_WORDS,               /* (text) -> words, for text that is not ASCII */
    H_PROGRAM_NAMES,       /* dict: base58 -> name */
    H_DOCUMENT,            /* the Document type */
    H_MOVEMENT,            /* the Movement type */
    H_COUNT
};
/* Which of them are dicts (the rest are callables). The Python helpers clear their caches
 * when full, never replace them, so these references stay the caches. */
static int is_dict(int i) {
    return i == H_LOG_CACHE || i == H_KEY_CACHE || i == H_KINDS_CACHE ||
           i == H_PROGRAM_WORDS_CACHE || i == H_PROGRAM_NAMES;
}
static PyObject *helpers[H_COUNT];

/* Interned strings: attribute names, and the words every summary has. */
static PyObject *s_signature, *s_status, *s_error, *s_fee, *s_compute_units, *s_logs,
    *s_accounts, *s_l1_tx_hash, *s_l1_tx_index, *s_position, *s_lamports, *s_kind, *s_amount,
    *s_mint, *s_SOL, *s_rejected, *s_transaction, *s_in, *s_slot, *s_Fee, *s_payer, *s_paid,
    *s_compute, *s_units, *s_Signers, *s_Programs, *s_Accounts, *s_Logs,
    *s_system, *s_token, *s_token_2022, *s_empty, *s_comma, *s_bar;

#define FEE_PER_SIGNATURE 5000
#define FALLBACK 1 /* a step's result: run the Python definition instead */

/* ---- integers ---------------------------------------------------------------------------- */

/* A Python int as 128 bits: 0, FALLBACK (not an int, or beyond u64/i64), or -1 (error set). */
static int as_i128(PyObject *o, i128 *out) {
    if (!PyLong_Check(o))
        return FALLBACK;
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (!overflow) {
        *out = v;
        return 0;
    }
    if (overflow > 0) {
        unsigned long long u = PyLong_AsUnsignedLongLong(o);
        if (u == (unsigned long long)-1 && PyErr_Occurred()) {
            PyErr_Clear();
            return FALLBACK;
        }
        *out = (i128)u;
        return 0;
    }
    return FALLBACK;
}

static PyObject *int_from_i128(i128 v) {
    if (v >= INT64_MIN && v <= INT64_MAX)
        return PyLong_FromLongLong((long long)v);
    u128 mag = v < 0 ? (u128)0 - (u128)v : (u128)v;
    PyObject *hi = PyLong_FromUnsignedLongLong((unsigned long long)(mag >> 64));
    PyObject *lo = PyLong_FromUnsignedLongLong((unsigned long long)mag);
    PyObject *shift = PyLong_FromLong(64);
    PyObject *high = NULL, *sum = NULL, *out = NULL;
    if (hi && lo && shift && (high = PyNumber_Lshift(hi, shift)) && (sum = PyNumber_Add(high, lo)))
        out = v < 0 ? PyNumber_Negative(sum) : (Py_INCREF(sum), sum);
    Py_XDECREF(hi);
    Py_XDECREF(lo);
    Py_XDECREF(shift);
    Py_XDECREF(high);
    Py_XDECREF(sum);
    return out;
}

/* Decimal digits of `v` into `buf` (at least 40 bytes); returns the length. */
static int u128_digits(u128 v, char *buf) {
    char tmp[40];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v);
    for (int i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    return n;
}

/* ---- text pieces ------------------------------------------------------------------------- */

/* Append a new reference (steals it); -1 when it is NULL or the append fails. */
static int put(PyObject *list, PyObject *item) {
    if (!item)
        return -1;
    int rc = PyList_Append(list, item);
    Py_DECREF(item);
    return rc;
}

/* The template's literals, made into str objects once each (by the literal's address). */
static struct {
    const char *text;
    PyObject *str;
} literals[32];
static int literal_count;

/* A literal's str (a new reference). */
static PyObject *literal(const char *text) {
    for (int i = 0; i < literal_count; i++)
        if (literals[i].text == text) {
            Py_INCREF(literals[i].str);
            return literals[i].str;
        }
    PyObject *str = PyUnicode_InternFromString(text);
    if (str && literal_count < (int)(sizeof(literals) / sizeof(literals[0]))) {
        Py_INCREF(str); /* the table's, kept for the process's life */
        literals[literal_count].text = text;
        literals[literal_count++].str = str;
    }
    return str;
}

static int put_str(PyObject *list, const char *text) { return put(list, literal(text)); }

/* Append each item of a list or tuple (borrowed items: the sequence may be a shared cache). */
static int extend(PyObject *list, PyObject *seq) {
    PyObject *fast = PySequence_Fast(seq, "expected a sequence");
    if (!fast)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    PyObject **items = PySequence_Fast_ITEMS(fast);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (PyList_Append(list, items[i]) < 0) {
            Py_DECREF(fast);
            return -1;
        }
    }
    Py_DECREF(fast);
    return 0;
}

/* `sep.join(seq)` appended to `pieces`. */
static int put_join(PyObject *pieces, PyObject *sep, PyObject *seq) {
    return put(pieces, PyUnicode_Join(sep, seq));
}

/* The words of `text` as `embed.words` finds them (`[0-9A-Za-z]+(?:\.[0-9]+)?`), appended to
 * `out`; ASCII text is read here, other text by the Python helper. */
static int put_words(PyObject *out, PyObject *text) {
    if (!PyUnicode_IS_ASCII(text)) {
        PyObject *found = PyObject_CallOneArg(helpers[H_WORDS], text);
        if (!found)
            return -1;
        int rc = extend(out, found);
        Py_DECREF(found);
        return rc;
    }
    const char *s = (const char *)PyUnicode_1BYTE_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), i = 0;
#define ALNUM(c)                                                                                \
    (((c) >= '0' && (c) <= '9') || ((c) >= 'A' && (c) <= 'Z') || ((c) >= 'a' && (c) <= 'z'))
#define DIGIT(c) ((c) >= '0' && (c) <= '9')
    while (i < n) {
        if (!ALNUM(s[i])) {
            i++;
            continue;
        }
        Py_ssize_t start = i;
        while (i < n && ALNUM(s[i]))
            i++;
        if (i + 1 < n && s[i] == '.' && DIGIT(s[i + 1])) {
            i++;
            while (i < n && DIGIT(s[i]))
                i++;
        }
        if (put(out, PyUnicode_FromStringAndSize(s + start, i - start)) < 0)
            return -1;
    }
#undef ALNUM
#undef DIGIT
    return 0;
}

/* A line of the summary after the first: on a line of its own, and its words said. */
static int put_line(PyObject *pieces, PyObject *said, PyObject *line) {
    if (put_str(pieces, "\n") < 0 || PyList_Append(pieces, line) < 0)
        return -1;
    return put_words(said, line);
}

/* The concatenation of `count` str objects (NULL entries are C literals in `texts`). */
static PyObject *concat(PyObject *const *parts, const char *const *texts, int count) {
    PyObject *made[8] = {NULL};
    PyObject *out = NULL;
    Py_ssize_t length = 0;
    Py_UCS4 widest = 127;
    int i;
    for (i = 0; i < count; i++) {
        PyObject *part = parts[i];
        if (!part && !(part = made[i] = literal(texts[i])))
            goto done;
        length += PyUnicode_GET_LENGTH(part);
        if (PyUnicode_MAX_CHAR_VALUE(part) > widest)
            widest = PyUnicode_MAX_CHAR_VALUE(part);
    }
    if (!(out = PyUnicode_New(length, widest)))
        goto done;
    length = 0;
    for (i = 0; i < count; i++) {
        PyObject *part = parts[i] ? parts[i] : made[i];
        PyUnicode_CopyCharacters(out, length, part, 0, PyUnicode_GET_LENGTH(part));
        length += PyUnicode_GET_LENGTH(part);
    }
done:
    for (i = 0; i < count; i++)
        Py_XDECREF(made[i]);
    return out;
}

/* `0x` and the hex of a bytes object. */
static PyObject *hex0x(PyObject *raw) {
    static const char digits[] = "0123456789abcdef";
    Py_ssize_t n = PyBytes_GET_SIZE(raw);
    const unsigned char *b = (const unsigned char *)PyBytes_AS_STRING(raw);
    PyObject *out = PyUnicode_New(2 + 2 * n, 127);
    if (!out)
        return NULL;
    Py_UCS1 *w = PyUnicode_1BYTE_DATA(out);
    w[0] = '0';
    w[1] = 'x';
    for (Py_ssize_t i = 0; i < n; i++) {
        w[2 + 2 * i] = (Py_UCS1)digits[b[i] >> 4];
        w[3 + 2 * i] = (Py_UCS1)digits[b[i] & 15];
    }
    return out;
}

/* `cache[key]`, else `function(key)` (which fills the cache): a new reference. */
static PyObject *cached(int cache, int function, PyObject *key) {
    PyObject *value = PyDict_GetItemWithError(helpers[cache], key);
    if (value) {
        Py_INCREF(value);
        return value;
    }
    if (PyErr_Occurred())
        return NULL;
    return PyObject_CallOneArg(helpers[function], key);
}

/* A public key's base58, through the cache when it is there. */
static PyObject *encode_key(PyObject *key) { return cached(H_KEY_CACHE, H_ENCODE_KEY, key); }

/* `documents.encode_keys`: a tuple of each key's base58. */
static PyObject *encode_keys(PyObject *keys) {
    Py_ssize_t n = PyTuple_GET_SIZE(keys);
    PyObject *out = PyTuple_New(n);
    for (Py_ssize_t i = 0; out && i < n; i++) {
        PyObject *text = encode_key(PyTuple_GET_ITEM(keys, i));
        if (!text)
            Py_CLEAR(out);
        else
            PyTuple_SET_ITEM(out, i, text);
    }
    return out;
}

/* str() of an int (of anything), without the generic path for the common int64. */
static PyObject *int_text(PyObject *value) {
    if (PyLong_CheckExact(value)) {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (!overflow && !(v == -1 && PyErr_Occurred())) {
            char buf[48];
            int n = 0;
            if (v < 0)
                buf[n++] = '-';
            n += u128_digits(v < 0 ? (u128)0 - (u128)(i128)v : (u128)v, buf + n);
            return PyUnicode_FromStringAndSize(buf, n);
        }
        PyErr_Clear();
    }
    return PyObject_Str(value);
}

/* `documents.program_name`: the name when known, else the key (new reference). */
static PyObject *program_name(PyObject *key) {
    PyObject *name = PyDict_GetItemWithError(helpers[H_PROGRAM_NAMES], key);
    if (!name) {
        if (PyErr_Occurred())
            return NULL;
        name = key;
    }
    Py_INCREF(name);
    return name;
}

/* ---- balances ---------------------------------------------------------------------------- */

/* What `Prior` holds, read once. */
typedef struct {
    i128 lamports, amount;
    long kind;
    PyObject *mint; /* borrowed from the Prior */
} State;

static int read_state(PyObject *prior, State *out) {
    PyObject *lamports = PyObject_GetAttr(prior, s_lamports);
    PyObject *kind = lamports ? PyObject_GetAttr(prior, s_kind) : NULL;
    PyObject *amount = kind ? PyObject_GetAttr(prior, s_amount) : NULL;
    PyObject *mint = amount ? PyObject_GetAttr(prior, s_mint) : NULL;
    int rc = -1;
    if (mint) {
        rc = as_i128(lamports, &out->lamports);
        if (!rc)
            rc = as_i128(amount, &out->amount);
        if (!rc) {
            out->kind = PyLong_Check(kind) ? PyLong_AsLong(kind) : -1;
            if (out->kind == -1 && PyErr_Occurred())
                rc = -1;
            else if (out->kind < 0 || out->kind > 3)
                rc = FALLBACK;
        }
        out->mint = mint; /* the Prior keeps it alive */
    }
    Py_XDECREF(lamports);
    Py_XDECREF(kind);
    Py_XDECREF(amount);
    Py_XDECREF(mint);
    return rc;
}

/* One movement: the account's and asset's text, and the change. */
typedef struct {
    PyObject *account, *asset; /* owned */
    i128 delta;
    int sol, supply;
} Move;

typedef struct {
    Move *moves;
    Py_ssize_t count;
    long *created; /* the kinds of the accounts the transaction created, in order */
    Py_ssize_t created_count;
} Effects;

static void effects_free(Effects *e) {
    for (Py_ssize_t i = 0; i < e->count; i++) {
        Py_XDECREF(e->moves[i].account);
        Py_XDECREF(e->moves[i].asset);
    }
    PyMem_Free(e->moves);
    PyMem_Free(e->created);
}

static int add_move(Effects *e, PyObject *account, PyObject *asset, i128 delta, int sol,
                    int supply) {
    Move *m = &e->moves[e->count++];
    Py_INCREF(account);
    m->account = account;
    m->asset = asset; /* a new reference, given */
    m->delta = delta;
    m->sol = sol;
    m->supply = supply;
    return 0;
}

/* `documents._movements`: the balance changes and the created accounts' kinds. */
static int movements(PyObject *changes, PyObject *payer, i128 fee, Effects *e) {
    Py_ssize_t n = PyDict_GET_SIZE(changes);
    e->moves = PyMem_Calloc((size_t)(2 * n + 1), sizeof(Move));
    e->created = PyMem_Calloc((size_t)(n + 1), sizeof(long));
    if (!e->moves || !e->created) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(changes, &pos, &key, &value)) {
        if (!PyTuple_Check(value) || PyTuple_GET_SIZE(value) != 2)
            return FALLBACK;
        PyObject *before_obj = PyTuple_GET_ITEM(value, 0);
        if (before_obj == Py_None)
            continue; /* the plugin did not know this account before */
        State before, after;
        int rc = read_state(before_obj, &before);
        if (rc)
            return rc;
        rc = read_state(PyTuple_GET_ITEM(value, 1), &after);
        if (rc)
            return rc;
        PyObject *name = encode_key(key);
        if (!name)
            return -1;
        if (before.lamports == 0 && after.lamports != 0)
            e->created[e->created_count++] = after.kind;
        int is_payer = payer ? PyObject_RichCompareBool(key, payer, Py_EQ) : 0;
        if (is_payer < 0) {
            Py_DECREF(name);
            return -1;
        }
        i128 delta = after.lamports - before.lamports + (is_payer ? fee : 0);
        rc = 0;
        if (delta) {
            Py_INCREF(s_SOL);
            add_move(e, name, s_SOL, delta, 1, 0);
        }
        if (after.kind == 1 && (before.kind == 0 || before.kind == 1)) {
            i128 change = after.amount - (before.kind == 1 ? before.amount : 0);
            if (change) {
                PyObject *mint = encode_key(after.mint);
                if (!mint)
                    rc = -1;
                else
                    add_move(e, name, mint, change, 0, 0);
            }
        } else if (after.kind == 2 && (before.kind == 0 || before.kind == 2)) {
            i128 change = after.amount - (before.kind == 2 ? before.amount : 0);
            if (change) {
                PyObject *parts[] = {NULL, name};
                const char *texts[] = {"supply:", NULL};
                PyObject *asset = concat(parts, texts, 2);
                if (!asset)
                    rc = -1;
                else
                    add_move(e, name, asset, change, 0, 1);
            }
        }
        Py_DECREF(name);
        if (rc)
            return rc;
    }
    return 0;
}

/* `documents._amount` of a magnitude, appended to `pieces`. */
static int put_amount(PyObject *pieces, const Move *m, u128 units) {
    char buf[64];
    int n = u128_digits(m->sol ? units / 1000000000u : units, buf);
    if (m->sol) {
        unsigned long frac = (unsigned long)(units % 1000000000u);
        if (frac) {
            buf[n++] = '.';
            char digits[9];
            for (int i = 8; i >= 0; i--) {
                digits[i] = (char)('0' + frac % 10);
                frac /= 10;
            }
            int keep = 9;
            while (digits[keep - 1] == '0')
                keep--;
            memcpy(buf + n, digits, (size_t)keep);
            n += keep;
        }
        memcpy(buf + n, " SOL", 4);
        return put(pieces, PyUnicode_FromStringAndSize(buf, n + 4));
    }
    if (put(pieces, PyUnicode_FromStringAndSize(buf, n)) < 0 || put_str(pieces, " units of token "))
        return -1;
    if (m->supply) {
        PyObject *mint = PyUnicode_Substring(m->asset, 7, PyUnicode_GET_LENGTH(m->asset));
        if (put(pieces, mint) < 0)
            return -1;
        return put_str(pieces, " (supply)");
    }
    return PyList_Append(pieces, m->asset);
}

static u128 magnitude(i128 v) { return v < 0 ? (u128)0 - (u128)v : (u128)v; }

/* `documents._moves_text`, joined with "; ", appended to `pieces`. */
static int put_moves(PyObject *pieces, const Effects *e) {
    char *done = PyMem_Calloc((size_t)e->count + 1, 1);
    if (!done) {
        PyErr_NoMemory();
        return -1;
    }
    int first = 1, rc = 0;
    for (Py_ssize_t a = 0; a < e->count && !rc; a++) {
        if (done[a])
            continue;
        /* The asset's moves (first appearance order of assets, write order within one). */
        PyObject *asset = e->moves[a].asset;
        Py_ssize_t losers = 0, gainers = 0, loser = -1, gainer = -1;
        for (Py_ssize_t i = a; i < e->count; i++) {
            if (done[i])
                continue;
            int same = PyUnicode_Compare(e->moves[i].asset, asset);
            if (same == -1 && PyErr_Occurred()) {
                rc = -1;
                break;
            }
            if (same)
                continue;
            done[i] = 2; /* this asset's, this round */
            if (e->moves[i].delta < 0)
                losers++, loser = i;
            else if (e->moves[i].delta > 0)
                gainers++, gainer = i;
        }
        if (rc)
            break;
        const Move *m0 = &e->moves[a];
        if (losers == 1 && gainers == 1 && e->moves[loser].delta + e->moves[gainer].delta == 0 &&
            !m0->supply) {
            const Move *g = &e->moves[gainer];
            if ((!first && put_str(pieces, "; ") < 0) ||
                put_amount(pieces, g, magnitude(g->delta)) < 0 ||
                put_str(pieces, " from ") < 0 ||
                PyList_Append(pieces, e->moves[loser].account) < 0 || put_str(pieces, " to ") < 0 ||
                PyList_Append(pieces, g->account) < 0)
                rc = -1;
            first = 0;
        } else {
            for (Py_ssize_t i = a; i < e->count && !rc; i++) {
                if (done[i] != 2)
                    continue;
                const Move *m = &e->moves[i];
                if ((!first && put_str(pieces, "; ") < 0) ||
                    PyList_Append(pieces, m->account) < 0 ||
                    put_str(pieces, m->delta > 0 ? " +" : " -") < 0 ||
                    put_amount(pieces, m, magnitude(m->delta)) < 0)
                    rc = -1;
                first = 0;
            }
        }
        for (Py_ssize_t i = a; i < e->count; i++)
            if (done[i] == 2)
                done[i] = 1;
    }
    PyMem_Free(done);
    return rc;
}

/* ---- instruction kinds ------------------------------------------------------------------- */

/* `documents._kinds`: a tuple of `program.kind`, one per top-level instruction. */
static PyObject *kinds(PyObject *invoked, const Effects *e, PyObject *failure_kind,
                       int has_failed_at, long long failed_at) {
    Py_ssize_t n = PyTuple_GET_SIZE(invoked);
    /* The token programs' effects, in the order the instructions most likely made them. */
    const char **effects = PyMem_Calloc((size_t)(e->created_count + e->count + 2), sizeof(char *));
    if (!effects)
        return PyErr_NoMemory();
    Py_ssize_t effect_count = 0, next_effect = 0, system_created = 0;
    int any_supply = 0, token_loss = 0;
    for (Py_ssize_t i = 0; i < e->created_count; i++) {
        if (e->created[i])
            system_created++;
        if (e->created[i] == 2)
            effects[effect_count++] = "initialize_mint";
        else if (e->created[i] == 1)
            effects[effect_count++] = "initialize_account";
    }
    for (Py_ssize_t i = 0; i < e->count; i++) {
        if (e->moves[i].supply) {
            any_supply = 1;
            effects[effect_count++] = e->moves[i].delta > 0 ? "mint_to" : "burn";
        } else if (!e->moves[i].sol && e->moves[i].delta < 0) {
            token_loss = 1;
        }
    }
    if (!any_supply && token_loss)
        effects[effect_count++] = "transfer";
    PyObject *out = PyTuple_New(n);
    for (Py_ssize_t i = 0; out && i < n; i++) {
        PyObject *entry = PyTuple_GET_ITEM(invoked, i);
        PyObject *name = program_name(PyTuple_GET_ITEM(entry, 0));
        if (!name) {
            Py_CLEAR(out);
            break;
        }
        PyObject *logged = PyTuple_GET_ITEM(entry, 1);
        PyObject *kind = NULL;
        if (logged != Py_None) {
            Py_INCREF(logged);
            kind = logged;
        } else if (has_failed_at && failed_at == i && failure_kind != Py_None) {
            Py_INCREF(failure_kind);
            kind = failure_kind;
        } else {
            int system = PyUnicode_Compare(name, s_system) == 0;
            int token = !system && (PyUnicode_Compare(name, s_token) == 0 ||
                                    PyUnicode_Compare(name, s_token_2022) == 0);
            const char *text = "call";
            if (system) {
                text = system_created > 0 ? "create_account" : "transfer";
                if (system_created > 0)
                    system_created--;
            } else if (token && next_effect < effect_count) {
                text = effects[next_effect++];
            }
            kind = PyUnicode_FromString(text);
        }
        PyObject *parts[] = {name, NULL, kind};
        const char *texts[] = {NULL, ".", NULL};
        PyObject *item = kind ? concat(parts, texts, 3) : NULL;
        Py_DECREF(name);
        Py_XDECREF(kind);
        if (!item) {
            Py_CLEAR(out);
            break;
        }
        PyTuple_SET_ITEM(out, i, item);
    }
    PyMem_Free((void *)effects);
    return out;
}

/* ---- the document ------------------------------------------------------------------------ */

static PyObject *summarize(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *doc_id, *tx, *slot, *block_hash, *changes;
    long max_log_lines;
    if (!PyArg_ParseTuple(args, "OOOSOl", &doc_id, &tx, &slot, &block_hash, &changes,
                          &max_log_lines))
        return NULL;
    if (!helpers[H_DOCUMENT]) {
        PyErr_SetString(PyExc_RuntimeError, "_summary.configure() was not called");
        return NULL;
    }
    PyObject *signature = NULL, *status = NULL, *error = NULL, *fee = NULL, *units = NULL,
             *logs = NULL, *raw_accounts = NULL, *l1_tx_hash = NULL, *l1_tx_index = NULL,
             *position = NULL, *signature_text = NULL, *accounts = NULL, *signers = NULL,
             *facts = NULL, *programs = NULL, *error_pair = NULL, *error_text = NULL,
             *instructions = NULL, *kinds_pair = NULL, *pieces = NULL, *said = NULL,
             *summary = NULL, *movement_tuple = NULL, *block_hex = NULL, *l1_hex = NULL,
             *line = NULL, *result = NULL, *document = NULL;
    Effects effects = {0};
    int fallback = 0;

#define GET(var, name)                                                                       \
    if (!(var = PyObject_GetAttr(tx, name)))                                                     \
        goto done;
    GET(signature, s_signature);
    GET(status, s_status);
    GET(error, s_error);
    GET(fee, s_fee);
    GET(units, s_compute_units);
    GET(logs, s_logs);
    GET(raw_accounts, s_accounts);
    GET(l1_tx_hash, s_l1_tx_hash);
    GET(l1_tx_index, s_l1_tx_index);
    GET(position, s_position);
#undef GET
    if (signature == Py_None ||
        (PyUnicode_Check(status) && PyUnicode_Compare(status, s_rejected) == 0)) {
        PyErr_SetString(PyExc_ValueError, "only executed transactions become documents");
        goto done;
    }
    i128 fee_value = 0, units_value = 0;
    int rc = as_i128(fee, &fee_value);
    if (!rc)
        rc = as_i128(units, &units_value);
    if (rc < 0)
        goto done;
    if (rc == FALLBACK || !PyUnicode_Check(status) || !PyBytes_Check(l1_tx_hash) ||
        !PyTuple_Check(raw_accounts) || !PyDict_Check(changes)) {
        fallback = 1;
        goto done;
    }
    {
        PyObject *sig = PyObject_CallOneArg(helpers[H_SIGNATURE], signature);
        signature_text = sig ? PyObject_Str(sig) : NULL;
        Py_XDECREF(sig);
        if (!signature_text)
            goto done;
    }
    if (!(accounts = encode_keys(raw_accounts)))
        goto done;
    Py_ssize_t account_count = PyTuple_GET_SIZE(accounts), signer_count = 0;
    if (account_count) {
        i128 paid = fee_value / FEE_PER_SIGNATURE; /* fee >= 0 here, or one signer anyway */
        signer_count =
            fee_value <= 0 ? 1 : (paid < account_count ? (Py_ssize_t)paid : account_count);
        if (signer_count < 1)
            signer_count = 1;
    }
    if (!(signers = PyTuple_GetSlice(accounts, 0, signer_count)))
        goto done;

    /* What the logs say (cached in Python: transactions of a kind log the same lines). */
    {
        PyObject *log_tuple = PySequence_Tuple(logs);
        PyObject *limit = log_tuple ? PyLong_FromLong(max_log_lines) : NULL;
        PyObject *key = limit ? PyTuple_Pack(2, log_tuple, limit) : NULL;
        if (key) {
            facts = PyDict_GetItemWithError(helpers[H_LOG_CACHE], key);
            if (facts)
                Py_INCREF(facts);
            else if (!PyErr_Occurred())
                facts = PyObject_CallFunctionObjArgs(helpers[H_LOG_FACTS], log_tuple, limit, NULL);
        }
        Py_XDECREF(log_tuple);
        Py_XDECREF(limit);
        Py_XDECREF(key);
        if (!facts)
            goto done;
    }
    if (!PyTuple_Check(facts) || PyTuple_GET_SIZE(facts) != 6) {
        PyErr_SetString(PyExc_TypeError, "log facts must be a 6-tuple");
        goto done;
    }
    PyObject *invoked = PyTuple_GET_ITEM(facts, 0), *failure_kind = PyTuple_GET_ITEM(facts, 2);
    PyObject *kept = PyTuple_GET_ITEM(facts, 3), *log_said = PyTuple_GET_ITEM(facts, 4);
    PyObject *log_said_words = PyTuple_GET_ITEM(facts, 5);
    if (!PyTuple_Check(invoked)) {
        PyErr_SetString(PyExc_TypeError, "invoked must be a tuple");
        goto done;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(invoked); i++) {
        PyObject *entry = PyTuple_GET_ITEM(invoked, i);
        if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 2) {
            PyErr_SetString(PyExc_TypeError, "invoked entries must be pairs");
            goto done;
        }
    }
    if (PyTuple_GET_SIZE(invoked)) {
        programs = PyTuple_GET_ITEM(facts, 1);
        Py_INCREF(programs);
    } else {
        /* The known programs among the keys, for a transaction without logs. */
        PyObject *known = PyList_New(0);
        for (Py_ssize_t i = 0; known && i < account_count; i++) {
            PyObject *name =
                PyDict_GetItemWithError(helpers[H_PROGRAM_NAMES], PyTuple_GET_ITEM(accounts, i));
            if (name ? PyList_Append(known, name) < 0 : PyErr_Occurred() != NULL)
                Py_CLEAR(known);
        }
        programs = known ? PyList_AsTuple(known) : NULL;
        Py_XDECREF(known);
        if (!programs)
            goto done;
    }

    int has_failed_at = 0;
    long long failed_at = 0;
    if (error != Py_None) {
        error_pair = PyObject_CallFunctionObjArgs(helpers[H_ERROR_TEXT], error, invoked, NULL);
        if (!error_pair)
            goto done;
        if (!PyTuple_Check(error_pair) || PyTuple_GET_SIZE(error_pair) != 2) {
            PyErr_SetString(PyExc_TypeError, "error text must be a pair");
            goto done;
        }
        error_text = PyTuple_GET_ITEM(error_pair, 0);
        PyObject *index = PyTuple_GET_ITEM(error_pair, 1);
        if (index != Py_None) {
            int overflow = 0;
            failed_at = PyLong_AsLongLongAndOverflow(index, &overflow);
            if (failed_at == -1 && PyErr_Occurred())
                goto done;
            has_failed_at = !overflow;
        }
    }

    PyObject *payer = PyTuple_GET_SIZE(raw_accounts) ? PyTuple_GET_ITEM(raw_accounts, 0) : NULL;
    rc = movements(changes, payer, fee_value, &effects);
    if (rc) {
        fallback = rc == FALLBACK;
        goto done;
    }
    if (!(instructions = kinds(invoked, &effects, failure_kind, has_failed_at, failed_at)))
        goto done;
    if (!(kinds_pair = cached(H_KINDS_CACHE, H_KINDS_TEXT, instructions)))
        goto done;
    if (!PyTuple_Check(kinds_pair) || PyTuple_GET_SIZE(kinds_pair) != 2) {
        PyErr_SetString(PyExc_TypeError, "kinds text must be a pair");
        goto done;
    }
    PyObject *fee_payer = account_count ? PyTuple_GET_ITEM(accounts, 0) : s_empty;

    /* The summary's lines, as pieces joined once; `said` its words in order. */
    if (!(pieces = PyList_New(0)) || !(said = PyList_New(0)))
        goto done;
    PyObject *slot_text = int_text(slot);
    if (!slot_text)
        goto done;
    int bad = PyList_Append(pieces, status) < 0 || put_str(pieces, " transaction ") < 0 ||
              PyList_Append(pieces, signature_text) < 0 || put_str(pieces, " in slot ") < 0 ||
              PyList_Append(pieces, slot_text) < 0 || put_str(pieces, ": ") < 0 ||
              PyList_Append(pieces, PyTuple_GET_ITEM(kinds_pair, 0)) < 0 ||
              put_str(pieces, ".") < 0 || PyList_Append(said, status) < 0 ||
              PyList_Append(said, s_transaction) < 0 || PyList_Append(said, signature_text) < 0 ||
              PyList_Append(said, s_in) < 0 || PyList_Append(said, s_slot) < 0 ||
              PyList_Append(said, slot_text) < 0 ||
              extend(said, PyTuple_GET_ITEM(kinds_pair, 1)) < 0;
    Py_DECREF(slot_text);
    if (bad)
        goto done;
    if (effects.count) {
        PyObject *parts = PyList_New(0);
        if (!parts)
            goto done;
        if (put_str(parts, "Moved ") < 0 || put_moves(parts, &effects) < 0 ||
            put_str(parts, ".") < 0 || !(line = PyUnicode_Join(s_empty, parts))) {
            Py_DECREF(parts);
            goto done;
        }
        Py_DECREF(parts);
        if (put_line(pieces, said, line) < 0)
            goto done;
        Py_CLEAR(line);
    }
    if (error_text) {
        if (!(line = PyUnicode_FromFormat("Error: %S.", error_text)) ||
            put_line(pieces, said, line) < 0)
            goto done;
        Py_CLEAR(line);
    }
    {
        PyObject *fee_text = int_text(fee), *units_text = fee_text ? int_text(units) : NULL;
        bad = !units_text;
        if (!bad) {
            PyObject *parts[] = {NULL, fee_payer, NULL, fee_text, NULL, units_text, NULL};
            const char *texts[] = {"Fee payer ", NULL, " paid ", NULL, " lamports; ", NULL,
                                   " compute units."};
            line = concat(parts, texts, 7);
            bad = !line || put_str(pieces, "\n") < 0 || PyList_Append(pieces, line) < 0;
        }
        if (!bad) {
            /* `fee >= 0 and compute_units >= 0 and fee_payer`: the words are known. */
            int plain = fee_value >= 0 && units_value >= 0 && PyUnicode_GET_LENGTH(fee_payer) > 0;
            if (plain)
                bad = PyList_Append(said, s_Fee) < 0 || PyList_Append(said, s_payer) < 0 ||
                      PyList_Append(said, fee_payer) < 0 || PyList_Append(said, s_paid) < 0 ||
                      PyList_Append(said, fee_text) < 0 || PyList_Append(said, s_lamports) < 0 ||
                      PyList_Append(said, units_text) < 0 || PyList_Append(said, s_compute) < 0 ||
                      PyList_Append(said, s_units) < 0;
            else
                bad = put_words(said, line) < 0;
        }
        Py_XDECREF(fee_text);
        Py_XDECREF(units_text);
        Py_CLEAR(line);
        if (bad)
            goto done;
    }
    if (put_str(pieces, "\nSigners: ") < 0 || put_join(pieces, s_comma, signers) < 0 ||
        put_str(pieces, ".\nPrograms: ") < 0)
        goto done;
    {
        /* `", ".join(programs) or "none"` */
        PyObject *joined = PyUnicode_Join(s_comma, programs);
        if (!joined)
            goto done;
        if (PyUnicode_GET_LENGTH(joined)) {
            bad = PyList_Append(pieces, joined) < 0;
            Py_DECREF(joined);
        } else {
            Py_DECREF(joined);
            bad = put_str(pieces, "none") < 0;
        }
        if (bad)
            goto done;
    }
    if (put_str(pieces, ".\nAccounts: ") < 0 || put_join(pieces, s_comma, accounts) < 0 ||
        put_str(pieces, ".") < 0)
        goto done;
    if (PyList_Append(said, s_Signers) < 0 || extend(said, signers) < 0 ||
        PyList_Append(said, s_Programs) < 0)
        goto done;
    {
        PyObject *words = cached(H_PROGRAM_WORDS_CACHE, H_PROGRAM_WORDS, programs);
        bad = !words || extend(said, words) < 0;
        Py_XDECREF(words);
        if (bad)
            goto done;
    }
    if (PyList_Append(said, s_Accounts) < 0 || extend(said, accounts) < 0)
        goto done;
    if (PyObject_IsTrue(log_said) > 0) {
        if (put_str(pieces, "\nLogs: ") < 0 || put_join(pieces, s_bar, log_said) < 0 ||
            PyList_Append(said, s_Logs) < 0 || extend(said, log_said_words) < 0)
            goto done;
    }
    if (PyErr_Occurred() || !(summary = PyUnicode_Join(s_empty, pieces)))
        goto done;

    /* The Movement structs, in write order. */
    if (!(movement_tuple = PyTuple_New(effects.count)))
        goto done;
    for (Py_ssize_t i = 0; i < effects.count; i++) {
        PyObject *delta = int_from_i128(effects.moves[i].delta);
        PyObject *fields[] = {effects.moves[i].account, effects.moves[i].asset, delta};
        PyObject *move = delta ? PyObject_Vectorcall(helpers[H_MOVEMENT], fields, 3, NULL) : NULL;
        Py_XDECREF(delta);
        if (!move)
            goto done;
        PyTuple_SET_ITEM(movement_tuple, i, move);
    }
    if (!(block_hex = hex0x(block_hash)) || !(l1_hex = hex0x(l1_tx_hash)))
        goto done;
    {
        PyObject *kept_tuple = PySequence_Tuple(kept);
        if (!kept_tuple)
            goto done;
        PyObject *fields[] = {doc_id,       signature_text, slot,          block_hex,
                              l1_hex,       l1_tx_index,    position,      status,
                              fee,          units,          fee_payer,     signers,
                              programs,     instructions,   accounts,      movement_tuple,
                              error_text ? error_text : Py_None,          kept_tuple,
                              summary};
        document = PyObject_Vectorcall(helpers[H_DOCUMENT], fields,
                                       sizeof(fields) / sizeof(fields[0]), NULL);
        Py_DECREF(kept_tuple);
        if (!document)
            goto done;
    }
    result = PyTuple_Pack(2, document, said);

done:
    effects_free(&effects);
    Py_XDECREF(signature);
    Py_XDECREF(status);
    Py_XDECREF(error);
    Py_XDECREF(fee);
    Py_XDECREF(units);
    Py_XDECREF(logs);
    Py_XDECREF(raw_accounts);
    Py_XDECREF(l1_tx_hash);
    Py_XDECREF(l1_tx_index);
    Py_XDECREF(position);
    Py_XDECREF(signature_text);
    Py_XDECREF(accounts);
    Py_XDECREF(signers);
    Py_XDECREF(facts);
    Py_XDECREF(programs);
    Py_XDECREF(error_pair);
    Py_XDECREF(instructions);
    Py_XDECREF(kinds_pair);
    Py_XDECREF(pieces);
    Py_XDECREF(said);
    Py_XDECREF(summary);
    Py_XDECREF(movement_tuple);
    Py_XDECREF(block_hex);
    Py_XDECREF(l1_hex);
    Py_XDECREF(line);
    Py_XDECREF(document);
    if (fallback && !PyErr_Occurred())
        Py_RETURN_NONE;
    return result;
}

static PyObject *configure(PyObject *Py_UNUSED(module), PyObject *args) {
    if (!PyTuple_Check(args) || PyTuple_GET_SIZE(args) != H_COUNT) {
        PyErr_Format(PyExc_TypeError, "configure() takes %d helpers", H_COUNT);
        return NULL;
    }
    for (int i = 0; i < H_COUNT; i++) {
        PyObject *helper = PyTuple_GET_ITEM(args, i);
        if (is_dict(i) ? !PyDict_Check(helper) : !PyCallable_Check(helper)) {
            PyErr_Format(PyExc_TypeError, "helper %d must be a %s", i,
                         is_dict(i) ? "dict" : "callable");
            return NULL;
        }
    }
    for (int i = 0; i < H_COUNT; i++) {
        PyObject *helper = PyTuple_GET_ITEM(args, i);
        Py_INCREF(helper);
        Py_XSETREF(helpers[i], helper);
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(log_facts, log_cache, error_text, encode_key, key_cache, signature, kinds_text, "
     "kinds_cache, program_words, program_words_cache, words, program_names, Document, "
     "Movement)\n--\n\n"
     "The Python helpers and types `summarize` uses (documents.py passes them once)."},
    {"summarize", summarize, METH_VARARGS,
     "summarize(doc_id, tx, slot, block_hash, changes, max_log_lines)\n--\n\n"
     "(Document, words) of an executed transaction, as documents.summarize_changes defines "
     "them; None when the Python definition must make this one."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_summary", "One executed transaction's document, put together in C.",
    -1, methods,
};

#define INTERN(var, text)                                                                        \
    if (!(var = PyUnicode_InternFromString(text)))                                               \
        return NULL;

PyMODINIT_FUNC PyInit__summary(void) {
    INTERN(s_signature, "signature");
    INTERN(s_status, "status");
    INTERN(s_error, "error");
    INTERN(s_fee, "fee");
    INTERN(s_compute_units, "compute_units");
    INTERN(s_logs, "logs");
    INTERN(s_accounts, "accounts");
    INTERN(s_l1_tx_hash, "l1_tx_hash");
    INTERN(s_l1_tx_index, "l1_tx_index");
    INTERN(s_position, "position");
    INTERN(s_lamports, "lamports");
    INTERN(s_kind, "kind");
    INTERN(s_amount, "amount");
    INTERN(s_mint, "mint");
    INTERN(s_SOL, "SOL");
    INTERN(s_rejected, "rejected");
    INTERN(s_transaction, "transaction");
    INTERN(s_in, "in");
    INTERN(s_slot, "slot");
    INTERN(s_Fee, "Fee");
    INTERN(s_payer, "payer");
    INTERN(s_paid, "paid");
    INTERN(s_compute, "compute");
    INTERN(s_units, "units");
    INTERN(s_Signers, "Signers");
    INTERN(s_Programs, "Programs");
    INTERN(s_Accounts, "Accounts");
    INTERN(s_Logs, "Logs");
    INTERN(s_system, "system");
    INTERN(s_token, "token");
    INTERN(s_token_2022, "token-2022");
    INTERN(s_empty, "");
    INTERN(s_comma, ", ");
    INTERN(s_bar, " | ");
    return PyModule_Create(&module);
}
