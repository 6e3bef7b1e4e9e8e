/* collector._recvmmsg: many UDP datagrams per system call (Linux recvmmsg(2)).
 *
 * receive(fd, count) -> list of (datagram: bytes, source: tuple)
 *
 * One call reads up to `count` datagrams already queued on the non-blocking socket `fd` and
 * returns them in arrival order; an empty list means the socket was empty. Sources are the
 * tuples socket.recvfrom gives: (host, port) for IPv4, (host, port, flowinfo, scope_id) for IPv6.
 * A publisher sends from one address, so the tuple of a source seen recently is reused rather
 * than built again. Errors other than "nothing to read" raise OSError, as recvfrom does.
 *
 * collector/receiver.py falls back to a recvfrom loop when this module is not built.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_BATCH 256
#define MAX_DATAGRAM 65535
#define SOURCES_REMEMBERED 32

typedef struct {
    struct sockaddr_storage address;
    socklen_t length;
    PyObject *tuple; /* owned */
} Source;

/* The GIL is held throughout (the call never blocks), so these static buffers are never shared. */
static char *buffers; /* MAX_BATCH datagram buffers, allocated on first use */
static struct mmsghdr messages[MAX_BATCH];
static struct iovec vectors[MAX_BATCH];
static struct sockaddr_storage addresses[MAX_BATCH];
static Source sources[SOURCES_REMEMBERED];
static int next_source; /* the slot the next unknown source replaces */

static PyObject *source_tuple(const struct sockaddr_storage *address)
{
    char host[INET6_ADDRSTRLEN];
    if (address->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)address;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        return Py_BuildValue("(si)", host, ntohs(in->sin_port));
    }
    if (address->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)address;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        return Py_BuildValue("(siII)", host, ntohs(in6->sin6_port), ntohl(in6->sin6_flowinfo),
                             in6->sin6_scope_id);
    }
    Py_RETURN_NONE;
}

/* The tuple of this source, remembered: a new reference. */
static PyObject *source_of(const struct sockaddr_storage *address, socklen_t length)
{
    for (int i = 0; i < SOURCES_REMEMBERED; i++) {
        Source *known = &sources[i];
        if (known->tuple != NULL && known->length == length && memcmp(&known->address, address, length) == 0) {
            Py_INCREF(known->tuple);
            return known->tuple;
        }
    }
    PyObject *tuple = source_tuple(address);
    if (tuple == NULL)
        return NULL;
    Source *slot = &sources[next_source];
    next_source = (next_source + 1) % SOURCES_REMEMBERED;
    Py_XDECREF(slot->tuple);
    memcpy(&slot->address, address, length);
    slot->length = length;
    slot->tuple = tuple;
    Py_INCREF(tuple);
    return tuple;
}

static PyObject *receive(PyObject *module, PyObject *args)
{
    int fd, count;
    if (!PyArg_ParseTuple(args, "ii", &fd, &count))
        return NULL;
    if (count < 1 || count > MAX_BATCH) {
        PyErr_Format(PyExc_ValueError, "count must be within 1..%d", MAX_BATCH);
        return NULL;
    }
    if (buffers == NULL) {
        buffers = PyMem_RawMalloc((size_t)MAX_BATCH * MAX_DATAGRAM);
        if (buffers == NULL)
            return PyErr_NoMemory();
    }
    for (int i = 0; i < count; i++) {
        vectors[i].iov_base = buffers + (size_t)i * MAX_DATAGRAM;
        vectors[i].iov_len = MAX_DATAGRAM;
        memset(&messages[i].msg_hdr, 0, sizeof messages[i].msg_hdr);
        messages[i].msg_hdr.msg_iov = &vectors[i];
        messages[i].msg_hdr.msg_iovlen = 1;
        messages[i].msg_hdr.msg_name = &addresses[i];
        messages[i].msg_hdr.msg_namelen = sizeof addresses[i];
    }
    int received = recvmmsg(fd, messages, (unsigned int)count, MSG_DONTWAIT, NULL);
    if (received < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return PyList_New(0);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    PyObject *batch = PyList_New(received);
    if (batch == NULL)
        return NULL;
    for (int i = 0; i < received; i++) {
        PyObject *data = PyBytes_FromStringAndSize(vectors[i].iov_base, messages[i].msg_len);
        PyObject *source = data == NULL ? NULL : source_of(&addresses[i], messages[i].msg_hdr.msg_namelen);
        PyObject *pair = source == NULL ? NULL : PyTuple_Pack(2, data, source);
        Py_XDECREF(data);
        Py_XDECREF(source);
        if (pair == NULL) {
            Py_DECREF(batch);
            return NULL;
        }
        PyList_SET_ITEM(batch, i, pair);
    }
    return batch;
}

static PyMethodDef methods[] = {
    {"receive", receive, METH_VARARGS,
     "receive(fd, count) -> [(datagram, source), ...]: up to count queued datagrams, [] when none"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "collector._recvmmsg", "UDP datagrams in batches with recvmmsg(2).", -1, methods,
};

PyMODINIT_FUNC PyInit__recvmmsg(void)
{
    PyObject *created = PyModule_Create(&module);
    if (created != NULL && PyModule_AddIntConstant(created, "MAX_BATCH", MAX_BATCH) < 0) {
        Py_DECREF(created);
        return NULL;
    }
    return created;
}
