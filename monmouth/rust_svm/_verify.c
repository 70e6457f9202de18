/*
 * Ed25519 checks on native threads that never take the GIL (monmouth.rust_svm._verify).
 *
 * Why native threads: a Python thread that checks signatures needs the GIL between two
 * libsodium calls, and the node's main thread holds it almost all the time, so such a thread
 * waits up to a switch interval (5 ms) for every hand-over and the checks barely overlap
 * execution (measured: about 1.05 cores busy of 2). These threads take work from a queue of
 * their own and touch no Python object: `submit` (GIL held) pins the inputs and collects raw
 * pointers; `Job.wait` releases the GIL while it waits.
 *
 * The check itself is libsodium's `crypto_sign_open`, called through a function pointer the
 * Python side chooses (`sigverify.sign_open`: the system's libsodium or PyNaCl's bundled copy),
 * so there is no build-time dependency on libsodium.
 *
 * The threads are started by `Pool` and are not carried over a fork: a child process makes its
 * own pool. With the hash functions and `keys`, they also check the signatures of keys seen
 * before from tables of their multiples (`_ed25519.c`), shared by the pool's threads.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "_ed25519.h"

typedef int (*sign_open_fn)(unsigned char *m, unsigned long long *mlen, const unsigned char *sm,
                            unsigned long long smlen, const unsigned char *pk);
/* libsodium's crypto_hash_sha512 and crypto_core_ed25519_scalar_reduce, for the table checks. */
typedef int (*sha512_fn)(unsigned char *out, const unsigned char *in, unsigned long long inlen);
typedef void (*reduce_fn)(unsigned char *r, const unsigned char *s);

/* Signatures per unit of work: small, so that two threads share even a small job. */
#define UNIT 16
/* A submit wakes a sleeping worker once this many signatures wait in the queue (or when a
 * job is waited for): small blocks (50 transactions, one submit each, queued 160 blocks
 * ahead of the one executing) then cost the submitting thread a wake-up every few blocks,
 * not one each (a futex call, 2 % of the main thread at 50 a block). */
#define WAKE_AFTER 256
#if UNIT > ED_BATCH
#error "a unit's table checks are finished together: at most ED_BATCH of them"
#endif
/* Keys a set of the cache of tables (below). */
#define WAYS 8

typedef struct Job Job;

typedef struct Unit {
    Job *job;
    Py_ssize_t start, end;
    struct Unit *next;
} Unit;

/* One signature to check: pointers into the pinned bytes objects. */
typedef struct {
    const unsigned char *sig, *key, *msg; /* sig NULL: the wrong size, invalid */
    Py_ssize_t len;
} Entry;

typedef struct {
    PyObject_HEAD
    pthread_mutex_t mu;
    pthread_cond_t work;  /* a unit was queued, or the pool is closing */
    pthread_cond_t done;  /* a job finished */
    Unit *head, *tail;
    int closing;
    /* Workers blocked in (or about to block in) the wait for `work`: a submit signals one
     * only when there is one, and none when all are busy, since a busy worker looks at the
     * queue again before it sleeps. */
    int idle;
    /* Signatures in the queue's units (not yet taken by a worker). */
    Py_ssize_t queued;
    int nice; /* the threads' niceness (Linux: per thread) */
    int nthreads;
    pthread_t *threads;
    sign_open_fn fn;
    sha512_fn sha512;  /* for the table checks */
    reduce_fn reduce;
    struct Cache *cache; /* the keys seen and their tables; NULL: no table checks */
    /* What the table checks did (atomics; `Pool.stats`): signatures accepted, rejected (then
     * libsodium's check decided), tables built, and tables found wrong, which turns the table
     * checks off. */
    unsigned long long accepted, rejected, built, wrong;
} Pool;

/*
 * A variable-size object: its entries, units and verdicts follow it in the same allocation
 * (`job_new`), so that a submit costs the main thread one allocation, not one per array and
 * per unit.
 */
struct Job {
    PyObject_VAR_HEAD
    Pool *pool; /* a strong reference */
    /* Strong references to the bytes objects the entries point into (`npins` of them so far),
     * in place of copies of the input lists: the caller may change its lists meanwhile. */
    PyObject **pins;
    Py_ssize_t npins;
    Entry *entries;
    Unit *units;
    unsigned char *verdicts;
    Py_ssize_t n, nunits, longest;
    /* Signatures not yet checked: written under the pool's lock, and read without it by
     * `Job.wait` (atomics: the last write releases the verdicts). */
    Py_ssize_t remaining;
    /* Threads in `job_wait_nogil` (under the pool's lock): a finished job wakes `done` only
     * when someone waits for it. */
    int waiters;
    int cancelled;
};

static PyTypeObject PoolType;
static PyTypeObject JobType;

/*
 * Keys the threads have seen, some with a table of their multiples (`_ed25519.h`): a key gets
 * one when libsodium accepts a signature by it for the second time, which vouches for the key
 * (canonical, on the curve, not of small order) and says it signs again. Eight ways per set
 * (see `cache_add` for which key goes); a set's tags (each key's first 8 bytes) share one cache
 * line, so a look-up costs one miss. Shared by the pool's threads under a lock held for
 * look-ups only: a check takes a reference to the table it reads, so that the table outlives
 * its slot when another thread replaces it meanwhile.
 */
typedef struct {
    ed_table t; /* first: aligned */
    int refs;   /* atomic: the slot's, and each check's that reads it */
} Table;

typedef struct {
    unsigned char key[32];
    Table *table; /* NULL: seen once, or its table is being built */
    unsigned long long used;
    int building;
} Slot;

typedef struct Cache {
    pthread_mutex_t mu;
    uint64_t *tags; /* WAYS per set; a slot with used == 0 is empty */
    Slot *slots;
    Py_ssize_t sets;
    unsigned long long clock;
} Cache;

/* A thread's own buffer: R || A || M, and signature || message for libsodium. */
typedef struct {
    unsigned char *buf;
    size_t size;
} Scratch;

static void table_release(Table *table) {
    if (table && __atomic_sub_fetch(&table->refs, 1, __ATOMIC_ACQ_REL) == 0)
        free(table);
}

static uint64_t key_tag(const unsigned char *key) {
    uint64_t h;
    memcpy(&h, key, sizeof h); /* keys are hashes or points: their bytes are spread already */
    return h;
}

static Py_ssize_t key_set(Cache *cache, uint64_t tag) {
    return WAYS * (Py_ssize_t)((tag ^ (tag >> 29)) & (uint64_t)(cache->sets - 1));
}

/* The key's slot, or NULL (the lock held). */
static Slot *cache_find(Cache *cache, const unsigned char *key) {
    uint64_t tag = key_tag(key);
    Py_ssize_t set = key_set(cache, tag);
    for (int w = 0; w < WAYS; w++) {
        Slot *slot = &cache->slots[set + w];
        if (cache->tags[set + w] == tag && slot->used && memcmp(slot->key, key, 32) == 0) {
            slot->used = ++cache->clock;
            return slot;
        }
    }
    return NULL;
}

/*
 * Remember the key (the lock held), in place of its set's least recently used key seen once;
 * a key with a table goes first only when none was seen once, or when it is stale (unused for
 * `STALE` times the cache's keys of look-ups). A flood of keys that sign once, common on
 * Solana, then cannot push out the tables of keys that sign again and again, which cost two
 * libsodium checks and a build to get back.
 */
#define STALE 4

static void cache_add(Cache *cache, const unsigned char *key) {
    uint64_t tag = key_tag(key);
    Py_ssize_t set = key_set(cache, tag), oldest = set, once = -1;
    for (int w = 0; w < WAYS; w++) {
        Slot *s = &cache->slots[set + w];
        if (s->used < cache->slots[oldest].used)
            oldest = set + w;
        if (!s->table && !s->building && (once < 0 || s->used < cache->slots[once].used))
            once = set + w;
    }
    Slot *old = &cache->slots[oldest];
    unsigned long long stale = (unsigned long long)(STALE * WAYS * cache->sets);
    if (once >= 0 && !(old->table && cache->clock - old->used > stale))
        oldest = once;
    Slot *slot = &cache->slots[oldest];
    table_release(slot->table);
    slot->table = NULL;
    slot->building = 0;
    memcpy(slot->key, key, 32);
    slot->used = ++cache->clock;
    cache->tags[oldest] = tag;
}

/* The key's table with a reference for the caller, or NULL. */
static Table *cache_take(Cache *cache, const unsigned char *key) {
    pthread_mutex_lock(&cache->mu);
    Slot *slot = cache_find(cache, key);
    Table *table = slot ? slot->table : NULL;
    if (table)
        __atomic_add_fetch(&table->refs, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&cache->mu);
    return table;
}

static Cache *cache_new(Py_ssize_t sets) {
    Cache *cache = calloc(1, sizeof *cache);
    if (!cache)
        return NULL;
    cache->slots = calloc(WAYS * (size_t)sets, sizeof(Slot));
    cache->tags = calloc(WAYS * (size_t)sets, sizeof(uint64_t));
    if (!cache->slots || !cache->tags) {
        free(cache->slots);
        free(cache->tags);
        free(cache);
        return NULL;
    }
    cache->sets = sets;
    pthread_mutex_init(&cache->mu, NULL);
    return cache;
}

static void cache_free(Cache *cache) {
    if (!cache)
        return;
    for (Py_ssize_t i = 0; i < WAYS * cache->sets; i++)
        table_release(cache->slots[i].table);
    pthread_mutex_destroy(&cache->mu);
    free(cache->slots);
    free(cache->tags);
    free(cache);
}

/* k = SHA-512(R || A || M) mod L, for a check from a table; 0 if the hash failed. */
static int challenge(Pool *pool, unsigned char k[32], const unsigned char *sig,
                     const unsigned char *key, const unsigned char *msg, Py_ssize_t len,
                     unsigned char *buf) {
    unsigned char h[64];
    memcpy(buf, sig, 32);
    memcpy(buf + 32, key, 32);
    memcpy(buf + 64, msg, (size_t)len);
    if (pool->sha512(h, buf, 64 + (unsigned long long)len) != 0)
        return 0;
    pool->reduce(k, h);
    return 1;
}

/* The table checks found wrong (one refused what libsodium accepts): libsodium alone from now
 * on, as without tables. Never seen; the arithmetic would have to be wrong on this machine. */
static void tables_wrong(Pool *pool) {
    __atomic_add_fetch(&pool->wrong, 1, __ATOMIC_RELAXED);
}

/* A new key's table, built outside the lock; it must accept the signature libsodium just
 * accepted. Installed if its slot still waits for it. */
static void admit(Pool *pool, const unsigned char *sig, const unsigned char *key,
                  const unsigned char *msg, Py_ssize_t len, unsigned char *buf) {
    Cache *cache = pool->cache;
    Table *table = aligned_alloc(_Alignof(Table), sizeof(Table));
    unsigned char k[32];
    if (!table || ed_table_build(&table->t, key) != 0) {
        free(table); /* out of memory (the key decompressed for libsodium) */
        table = NULL;
    } else if (!challenge(pool, k, sig, key, msg, len, buf) || !ed_verify(&table->t, sig, k)) {
        free(table);
        table = NULL;
        tables_wrong(pool);
    }
    pthread_mutex_lock(&cache->mu);
    Slot *slot = cache_find(cache, key);
    if (slot && slot->building) { /* else replaced meanwhile: the table goes */
        slot->building = 0;
        if (table) {
            table->refs = 1;
            slot->table = table;
            table = NULL;
            __atomic_add_fetch(&pool->built, 1, __ATOMIC_RELAXED);
        }
    }
    pthread_mutex_unlock(&cache->mu);
    free(table);
}

/* libsodium's check, and what it teaches the cache when `learn`: a key it accepts is
 * remembered, and on its second acceptance gets a table. */
static int sodium_check(Pool *pool, Scratch *scratch, int learn, const unsigned char *sig,
                        const unsigned char *key, const unsigned char *msg, Py_ssize_t len) {
    unsigned char *sm = scratch->buf, *out = scratch->buf + 64 + len;
    memcpy(sm, sig, 64);
    memcpy(sm + 64, msg, (size_t)len);
    unsigned long long mlen = 0;
    int ok = pool->fn(out, &mlen, sm, 64 + (unsigned long long)len, key) == 0;
    if (!ok || !learn)
        return ok;
    Cache *cache = pool->cache;
    int build = 0;
    pthread_mutex_lock(&cache->mu);
    Slot *slot = cache_find(cache, key);
    if (!slot) {
        cache_add(cache, key);
    } else if (!slot->table && !slot->building) {
        slot->building = build = 1;
    }
    pthread_mutex_unlock(&cache->mu);
    if (build)
        admit(pool, sig, key, msg, len, scratch->buf);
    return ok;
}

static void check_range(Pool *pool, Job *job, Py_ssize_t start, Py_ssize_t end,
                        Scratch *scratch) {
    size_t need = 2 * (64 + (size_t)job->longest);
    if (scratch->size < need) {
        unsigned char *grown = realloc(scratch->buf, need);
        if (!grown) { /* out of memory: say invalid, the runtime's own check decides */
            memset(job->verdicts + start, 0, (size_t)(end - start));
            return;
        }
        scratch->buf = grown;
        scratch->size = need;
    }
    /* Signatures by keys with tables are computed first and finished together (one inversion
     * for all their encodings); the others are libsodium's, in order. */
    ed_point points[ED_BATCH];
    const unsigned char *rs[ED_BATCH];
    Py_ssize_t at[ED_BATCH];
    unsigned char passed[ED_BATCH];
    int pending = 0;
    int tables = pool->cache && !__atomic_load_n(&pool->wrong, __ATOMIC_RELAXED);
    for (Py_ssize_t i = start; i < end; i++) {
        const Entry *e = &job->entries[i];
        const unsigned char *sig = e->sig, *key = e->key, *msg = e->msg;
        if (__atomic_load_n(&job->cancelled, __ATOMIC_RELAXED) || !sig) {
            job->verdicts[i] = 0;
            continue;
        }
        Table *table = tables ? cache_take(pool->cache, key) : NULL;
        if (table) {
            unsigned char k[32];
            int computed = pending < ED_BATCH &&
                           challenge(pool, k, sig, key, msg, e->len, scratch->buf) &&
                           ed_compute(&points[pending], &table->t, sig, k);
            table_release(table);
            if (computed) {
                rs[pending] = sig;
                at[pending++] = i;
                continue;
            }
            /* S not canonical: libsodium says no too */
            __atomic_add_fetch(&pool->rejected, 1, __ATOMIC_RELAXED);
        }
        job->verdicts[i] =
            (unsigned char)sodium_check(pool, scratch, tables, sig, key, msg, e->len);
    }
    if (!pending)
        return;
    ed_finish(passed, points, rs, pending);
    for (int p = 0; p < pending; p++) {
        Py_ssize_t i = at[p];
        if (passed[p]) {
            __atomic_add_fetch(&pool->accepted, 1, __ATOMIC_RELAXED);
            job->verdicts[i] = 1;
            continue;
        }
        /* Say no only where libsodium says no too (an invalid signature, normally). */
        __atomic_add_fetch(&pool->rejected, 1, __ATOMIC_RELAXED);
        const Entry *e = &job->entries[i];
        int ok = sodium_check(pool, scratch, 0, e->sig, e->key, e->msg, e->len);
        if (ok)
            tables_wrong(pool);
        job->verdicts[i] = (unsigned char)ok;
    }
}

static void *worker(void *arg) {
    Pool *pool = arg;
#ifdef __linux__
    /* Linux gives each thread its own niceness. Best effort: a failure leaves the default. */
    if (pool->nice > 0)
        (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), pool->nice);
#endif
    Scratch scratch = {0};
    pthread_mutex_lock(&pool->mu);
    for (;;) {
        while (!pool->head && !pool->closing) {
            pool->idle++;
            pthread_cond_wait(&pool->work, &pool->mu);
            pool->idle--;
        }
        Unit *unit = pool->head;
        if (!unit)
            break; /* closing, and nothing left to do */
        pool->head = unit->next;
        if (!pool->head)
            pool->tail = NULL;
        pool->queued -= unit->end - unit->start;
        /* A submit wakes one worker (the cheapest for the submitting thread); the woken pass
         * the wake-up on while units are left and a worker sleeps. */
        if (pool->head && pool->idle > 0)
            pthread_cond_signal(&pool->work);
        pthread_mutex_unlock(&pool->mu);
        Job *job = unit->job;
        check_range(pool, job, unit->start, unit->end, &scratch);
        pthread_mutex_lock(&pool->mu);
        /* Read before the last decrement: from then on `Job.wait` may return without the lock
         * and the job be freed (the unit is inside it), so neither is touched again. */
        int waiters = job->waiters;
        Py_ssize_t left = job->remaining - (unit->end - unit->start);
        __atomic_store_n(&job->remaining, left, __ATOMIC_RELEASE);
        if (left == 0 && waiters > 0)
            pthread_cond_broadcast(&pool->done);
    }
    pthread_mutex_unlock(&pool->mu);
    free(scratch.buf);
    return NULL;
}

/* ------------------------------------------------------------------------------ Job */

/* Whether every signature is checked, and its verdict visible to this thread. */
static int job_finished(Job *job) {
    return __atomic_load_n(&job->remaining, __ATOMIC_ACQUIRE) == 0;
}

static void job_wait_nogil(Job *job) {
    Pool *pool = job->pool;
    pthread_mutex_lock(&pool->mu);
    /* Its units may wait in the queue for a wake-up no submit gave yet (WAKE_AFTER). */
    if (pool->head && pool->idle > 0)
        pthread_cond_signal(&pool->work);
    job->waiters++;
    while (job->remaining > 0)
        pthread_cond_wait(&pool->done, &pool->mu);
    job->waiters--;
    pthread_mutex_unlock(&pool->mu);
}

static PyObject *Job_wait(Job *self, PyObject *Py_UNUSED(ignored)) {
    /* A finished job (the usual case: the threads run ahead) costs no lock and no GIL
     * hand-over; one that may block waits without the GIL. */
    if (!job_finished(self)) {
        Py_BEGIN_ALLOW_THREADS
        job_wait_nogil(self);
        Py_END_ALLOW_THREADS
    }
    return PyBytes_FromStringAndSize((const char *)self->verdicts, self->n);
}

static void Job_dealloc(Job *self) {
    if (self->pool && !job_finished(self)) {
        /* The workers may still hold units of this job: let them skip the rest, then wait. */
        __atomic_store_n(&self->cancelled, 1, __ATOMIC_RELAXED);
        Py_BEGIN_ALLOW_THREADS
        job_wait_nogil(self);
        Py_END_ALLOW_THREADS
    }
    for (Py_ssize_t i = 0; i < self->npins; i++)
        Py_DECREF(self->pins[i]);
    Py_XDECREF((PyObject *)self->pool);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Job_methods[] = {
    {"wait", (PyCFunction)Job_wait, METH_NOARGS,
     "wait()\n--\n\nBlock (without the GIL) until every signature is checked; return one byte "
     "per signature, 1 where libsodium accepted it."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject JobType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "monmouth.rust_svm._verify.Job",
    .tp_doc = "Signatures submitted to a Pool, checked in its threads.",
    .tp_basicsize = sizeof(Job),
    .tp_itemsize = 1, /* bytes of entries, units and verdicts (`job_new`) */
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)Job_dealloc,
    .tp_methods = Job_methods,
};

/* ------------------------------------------------------------------------------ Pool */

static PyObject *Pool_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *names[] = {"address", "threads", "nice", "sha512", "reduce", "keys", NULL};
    unsigned long long address, sha512 = 0, reduce = 0;
    int nthreads, nice = 0;
    Py_ssize_t keys = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "Ki|i$KKn", names, &address, &nthreads, &nice,
                                     &sha512, &reduce, &keys))
        return NULL;
    if (address == 0 || nthreads < 1 || nthreads > 256 || nice < 0 || nice > 19 || keys < 0 ||
        (keys > 0 && (sha512 == 0 || reduce == 0))) {
        PyErr_SetString(PyExc_ValueError,
                        "need a function address, 1 to 256 threads, a niceness of 0 to 19, and "
                        "for keys > 0 the addresses of crypto_hash_sha512 and "
                        "crypto_core_ed25519_scalar_reduce");
        return NULL;
    }
    Pool *self = (Pool *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    pthread_mutex_init(&self->mu, NULL);
    pthread_cond_init(&self->work, NULL);
    pthread_cond_init(&self->done, NULL);
    self->fn = (sign_open_fn)(uintptr_t)address;
    if (keys > 0 && ed_init() == 0) { /* ed_init fails only if its own checks fail */
        self->sha512 = (sha512_fn)(uintptr_t)sha512;
        self->reduce = (reduce_fn)(uintptr_t)reduce;
        /* WAYS keys a set, a power of two of sets. No memory: libsodium alone. */
        Py_ssize_t sets = 1;
        while (sets * 2 * WAYS <= keys)
            sets *= 2;
        self->cache = cache_new(sets);
    }
    self->nice = nice;
    self->threads = calloc((size_t)nthreads, sizeof(pthread_t));
    if (!self->threads) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    for (int i = 0; i < nthreads; i++) {
        if (pthread_create(&self->threads[i], NULL, worker, self) != 0) {
            self->nthreads = i;
            Py_DECREF(self);
            PyErr_SetString(PyExc_OSError, "cannot start a signature-check thread");
            return NULL;
        }
    }
    self->nthreads = nthreads;
    return (PyObject *)self;
}

static void pool_close(Pool *self) {
    pthread_mutex_lock(&self->mu);
    self->closing = 1;
    pthread_cond_broadcast(&self->work);
    pthread_mutex_unlock(&self->mu);
    for (int i = 0; i < self->nthreads; i++)
        pthread_join(self->threads[i], NULL);
    self->nthreads = 0;
}

static PyObject *Pool_close(Pool *self, PyObject *Py_UNUSED(ignored)) {
    Py_BEGIN_ALLOW_THREADS
    pool_close(self);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static void Pool_dealloc(Pool *self) {
    /* Jobs hold the pool, so no job is alive here and the queue is empty. */
    pool_close(self);
    cache_free(self->cache);
    free(self->threads);
    pthread_cond_destroy(&self->done);
    pthread_cond_destroy(&self->work);
    pthread_mutex_destroy(&self->mu);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* A job for `n` signatures with its arrays laid out after it, nothing pinned or queued yet. */
static Job *job_new(Py_ssize_t n) {
    Py_ssize_t nunits = (n + UNIT - 1) / UNIT;
    size_t each = sizeof(Entry) + 3 * sizeof(PyObject *) + 1;
    if ((size_t)n > ((size_t)PY_SSIZE_T_MAX - sizeof(Job)) / (2 * each))
        return (Job *)PyErr_NoMemory();
    /* Entries, then units, then pins (all pointer-aligned sizes), then verdicts. */
    size_t entries = (size_t)n * sizeof(Entry), units = (size_t)nunits * sizeof(Unit);
    size_t pins = 3 * (size_t)n * sizeof(PyObject *);
    Job *job = PyObject_NewVar(Job, &JobType, (Py_ssize_t)(entries + units + pins + (size_t)n));
    if (!job)
        return NULL;
    unsigned char *tail = (unsigned char *)job + sizeof(Job);
    job->entries = (Entry *)tail;
    job->units = (Unit *)(tail + entries);
    job->pins = (PyObject **)(tail + entries + units);
    job->verdicts = tail + entries + units + pins;
    job->pool = NULL;
    job->npins = 0;
    job->n = n;
    job->nunits = nunits;
    job->longest = 0;
    job->remaining = 0;
    job->waiters = 0;
    job->cancelled = 0;
    return job;
}

static PyObject *Pool_submit(Pool *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "submit() takes 3 arguments (%zd given)", nargs);
        return NULL;
    }
    /* The inputs as they are (a list or tuple is not copied); each item is pinned below. */
    PyObject *seqs[3] = {NULL, NULL, NULL};
    static const char *const bad[3] = {"signatures must be a sequence", "keys must be a sequence",
                                       "messages must be a sequence"};
    Job *job = NULL;
    for (int c = 0; c < 3; c++) {
        seqs[c] = PySequence_Fast(args[c], bad[c]);
        if (!seqs[c])
            goto fail;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seqs[0]);
    if (PySequence_Fast_GET_SIZE(seqs[1]) != n || PySequence_Fast_GET_SIZE(seqs[2]) != n) {
        PyErr_SetString(PyExc_ValueError, "signatures, keys and messages differ in number");
        goto fail;
    }
    job = job_new(n);
    if (!job)
        goto fail;
    PyObject **sigs = PySequence_Fast_ITEMS(seqs[0]), **keys = PySequence_Fast_ITEMS(seqs[1]);
    PyObject **msgs = PySequence_Fast_ITEMS(seqs[2]);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *s = sigs[i], *k = keys[i], *m = msgs[i];
        if (!PyBytes_Check(s) || !PyBytes_Check(k) || !PyBytes_Check(m)) {
            PyErr_SetString(PyExc_TypeError, "signatures, keys and messages must be bytes");
            goto fail;
        }
        job->pins[job->npins++] = Py_NewRef(s);
        job->pins[job->npins++] = Py_NewRef(k);
        job->pins[job->npins++] = Py_NewRef(m);
        /* A signature or key of the wrong size is invalid; the caller's own check explains. */
        int sized = PyBytes_GET_SIZE(s) == 64 && PyBytes_GET_SIZE(k) == 32;
        Entry *e = &job->entries[i];
        e->sig = sized ? (const unsigned char *)PyBytes_AS_STRING(s) : NULL;
        e->key = (const unsigned char *)PyBytes_AS_STRING(k);
        e->msg = (const unsigned char *)PyBytes_AS_STRING(m);
        e->len = PyBytes_GET_SIZE(m);
        if (e->len > job->longest)
            job->longest = e->len;
    }
    for (Py_ssize_t u = 0; u < job->nunits; u++) {
        Unit *unit = &job->units[u];
        unit->job = job;
        unit->start = u * UNIT;
        unit->end = unit->start + UNIT < n ? unit->start + UNIT : n;
        unit->next = u + 1 < job->nunits ? unit + 1 : NULL;
    }
    for (int c = 0; c < 3; c++)
        Py_CLEAR(seqs[c]);
    if (job->nunits) {
        pthread_mutex_lock(&self->mu);
        if (self->closing) {
            pthread_mutex_unlock(&self->mu);
            PyErr_SetString(PyExc_RuntimeError, "the signature-check pool is closed");
            goto fail;
        }
        job->remaining = n;
        if (self->tail)
            self->tail->next = job->units;
        else
            self->head = job->units;
        self->tail = &job->units[job->nunits - 1];
        self->queued += n;
        /* One wake-up at most, and none when every worker is busy (each looks at the queue
         * before it sleeps) or while few signatures wait (WAKE_AFTER; a wait wakes them); the
         * woken worker wakes the next while units are left. */
        if (self->idle > 0 && self->queued >= WAKE_AFTER)
            pthread_cond_signal(&self->work);
        pthread_mutex_unlock(&self->mu);
    }
    job->pool = (Pool *)Py_NewRef((PyObject *)self);
    return (PyObject *)job;
fail:
    Py_XDECREF(job); /* nothing queued: it frees what it pinned */
    for (int c = 0; c < 3; c++)
        Py_XDECREF(seqs[c]);
    return NULL;
}

static PyObject *Pool_stats(Pool *self, PyObject *Py_UNUSED(ignored)) {
    return Py_BuildValue(
        "{sKsKsKsKsn}", "table_accepted", __atomic_load_n(&self->accepted, __ATOMIC_RELAXED),
        "table_rejected", __atomic_load_n(&self->rejected, __ATOMIC_RELAXED), "tables_built",
        __atomic_load_n(&self->built, __ATOMIC_RELAXED), "tables_wrong",
        __atomic_load_n(&self->wrong, __ATOMIC_RELAXED), "keys",
        self->cache ? WAYS * self->cache->sets : (Py_ssize_t)0);
}

static PyMethodDef Pool_methods[] = {
    {"submit", (PyCFunction)(void (*)(void))Pool_submit, METH_FASTCALL,
     "submit(signatures, keys, messages)\n--\n\nQueue one check per signature (64 bytes) of its "
     "message by its key (32 bytes); return the Job."},
    {"stats", (PyCFunction)Pool_stats, METH_NOARGS,
     "stats()\n--\n\nWhat the table checks did so far: signatures they accepted, signatures they "
     "rejected (libsodium's check then decided), tables built, tables found wrong (which turns "
     "the table checks off), and the keys the threads may keep tables for (0: off)."},
    {"close", (PyCFunction)Pool_close, METH_NOARGS,
     "close()\n--\n\nFinish the queued work and stop the threads. Idempotent."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject PoolType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "monmouth.rust_svm._verify.Pool",
    .tp_doc = "Pool(address, threads, nice=0, *, sha512=0, reduce=0, keys=0)\n--\n\nNative "
              "threads checking Ed25519 signatures with the crypto_sign_open function at "
              "`address`, at the given niceness; with `keys` > 0, the threads also keep tables "
              "for up to `keys` keys that signed before and checks their signatures from "
              "them, hashing with the crypto_hash_sha512 and crypto_core_ed25519_scalar_reduce "
              "at `sha512` and `reduce` (of the same libsodium).",
    .tp_basicsize = sizeof(Pool),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Pool_new,
    .tp_dealloc = (destructor)Pool_dealloc,
    .tp_methods = Pool_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_verify", "Ed25519 checks on native threads without the GIL.", -1, NULL,
};

PyMODINIT_FUNC PyInit__verify(void) {
    if (PyType_Ready(&PoolType) < 0 || PyType_Ready(&JobType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    if (PyModule_AddObjectRef(m, "Pool", (PyObject *)&PoolType) < 0 ||
        PyModule_AddObjectRef(m, "Job", (PyObject *)&JobType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
