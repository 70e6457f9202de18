/* Frames written to a child's pipe without the interpreter lock (`monmouth.core.pipes`).
 *
 * A Python thread sending a frame (a group for the store's writer process is tens of MB) needs
 * the interpreter lock to wake up and between its writes: while the main thread executed
 * blocks, the node's sender thread waited up to a quarter of a second for it among the node's
 * other threads (the lock is not handed over in turn), so the writer process got its group
 * late and the main thread then waited for the answer (0.4 to 0.9 s of 4 at 50 transactions a
 * block; 0.1 s with this).
 *
 * FrameWriter(fd): send(payload) writes one frame (8-byte little-endian length, payload) on a
 *   native thread of its own and returns at once; wait() returns once it is written (raises
 *   OSError if the write failed) and lets go of the payload, which must not change meanwhile.
 * One frame at a time: send waits for the one before. No Python runs on the thread, so it
 * never waits for the lock. Partial and interrupted writes are retried; a failed write (EPIPE
 * when the reader is gone: Python ignores SIGPIPE) is raised by wait.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

/* Every byte of buf to fd; 0, or the errno of the write that failed. */
static int write_fully(int fd, const char *at, Py_ssize_t left) {
    while (left > 0) {
        ssize_t n = write(fd, at, (size_t)(left > SSIZE_MAX ? SSIZE_MAX : left));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        at += n;
        left -= n;
    }
    return 0;
}

/* ------------------------------------------------------------------ FrameWriter */

typedef struct {
    PyObject_HEAD
    int fd;
    int running; /* a thread was started and not joined yet */
    int error;   /* errno of the frame's failed write (read after the join) */
    pthread_t thread;
    Py_buffer view; /* the frame's payload, held until the join */
    unsigned char header[8];
} FrameWriter;

static void *frame_thread(void *arg) {
    FrameWriter *w = arg;
    int error = write_fully(w->fd, (const char *)w->header, sizeof w->header);
    if (!error)
        error = write_fully(w->fd, w->view.buf, w->view.len);
    w->error = error; /* published to the joining thread by pthread_join */
    return NULL;
}

/* OSError for errno `error`; NULL. */
static PyObject *raise_errno(int error) {
    errno = error;
    return PyErr_SetFromErrno(PyExc_OSError);
}

/* Join the frame's thread (the lock released) and let go of its payload; 0 or its errno. */
static int frame_join(FrameWriter *w) {
    if (!w->running)
        return 0;
    Py_BEGIN_ALLOW_THREADS
    pthread_join(w->thread, NULL);
    Py_END_ALLOW_THREADS
    w->running = 0;
    PyBuffer_Release(&w->view);
    return w->error;
}

static PyObject *FrameWriter_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *names[] = {"fd", NULL};
    PyObject *file;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O", names, &file))
        return NULL;
    int fd = PyObject_AsFileDescriptor(file);
    if (fd < 0)
        return NULL;
    FrameWriter *self = (FrameWriter *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    self->fd = fd;
    return (PyObject *)self;
}

static PyObject *FrameWriter_wait(FrameWriter *self, PyObject *Py_UNUSED(ignored)) {
    int error = frame_join(self);
    if (error)
        return raise_errno(error);
    Py_RETURN_NONE;
}

static PyObject *FrameWriter_send(FrameWriter *self, PyObject *payload) {
    int error = frame_join(self);
    if (error)
        return raise_errno(error);
    if (PyObject_GetBuffer(payload, &self->view, PyBUF_SIMPLE) < 0)
        return NULL;
    uint64_t size = (uint64_t)self->view.len;
    for (int i = 0; i < 8; i++)
        self->header[i] = (unsigned char)(size >> (8 * i));
    self->error = 0;
    int failed = pthread_create(&self->thread, NULL, frame_thread, self);
    if (failed) {
        PyBuffer_Release(&self->view);
        return raise_errno(failed);
    }
    self->running = 1;
    Py_RETURN_NONE;
}

static void FrameWriter_dealloc(FrameWriter *self) {
    (void)frame_join(self); /* the thread reads this object */
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef FrameWriter_methods[] = {
    {"send", (PyCFunction)FrameWriter_send, METH_O,
     "send(payload)\n--\n\nWrite one frame on the writer's thread; returns at once (after "
     "the frame before is written). payload must not change until wait()."},
    {"wait", (PyCFunction)FrameWriter_wait, METH_NOARGS,
     "wait()\n--\n\nUntil the frame sent is written; OSError if its write failed."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject FrameWriterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "monmouth.core._pipes.FrameWriter",
    .tp_doc = "FrameWriter(fd)\n--\n\nFrames written to fd on a native thread, one at a time.",
    .tp_basicsize = sizeof(FrameWriter),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = FrameWriter_new,
    .tp_dealloc = (destructor)FrameWriter_dealloc,
    .tp_methods = FrameWriter_methods,
};

static PyMethodDef methods[] = {
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_pipes", "Frames written to a pipe without the interpreter lock.",
    -1, methods,
};

PyMODINIT_FUNC PyInit__pipes(void) {
    if (PyType_Ready(&FrameWriterType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    if (PyModule_AddObjectRef(m, "FrameWriter", (PyObject *)&FrameWriterType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
