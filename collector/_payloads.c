/* collector._payloads: our notif-envelope in XML or CBOR, read straight into RFC 7951 JSON.
 *
 * Reader(schema) -> reader with
 *     reader.xml(payload)  -> (event name, body, event-time text, sequence-number or None) | None
 *     reader.cbor(payload) -> the same
 *
 * `schema` is the table collector/payload_readers.py compiles from libyang (its docstring gives
 * the shape). The result is exactly what mso.notification_encoding.EnvelopeCodec.decode followed
 * by mso.yang_json gives for the same payload; None means "not the common case", and the caller
 * then takes that general path, which also gives the precise error for a payload it refuses.
 * This reader declines (returns None) whenever it is not certain to agree: a DTD, a parse error,
 * an element or member the schema does not know, an instance-identifier, a yang-patch value,
 * CBOR tags, floats and indefinite lengths, texts whose reading depends on Unicode rules.
 *
 * XML goes through libxml2's SAX2 interface (no tree is built), CBOR through a small decoder of
 * the definite-length subset.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <string.h>

/* --- the schema table --------------------------------------------------------------------- */

enum { CONTAINER, LIST, LEAF, LEAFLIST, ANYDATA, NOTIFICATION };
enum { T_TEXT, T_INTEGER, T_BOOLEAN, T_IDENTITYREF, T_EMPTY, T_UNION, T_INSTANCE, T_ENUMERATION, T_BITS,
       T_DECIMAL64 };

typedef struct Type {
    int base;
    int wide;          /* int64/uint64: JSON carries them as strings (and their bounds are not read) */
    long long low;     /* T_INTEGER bounds of the others */
    long long high;
    PyObject *names;   /* T_ENUMERATION, T_BITS: frozenset of str */
    int n_members;     /* T_UNION */
    struct Type **members;
    int safe_in_cbor;  /* no member needs a namespace context (identityref, instance-identifier) */
} Type;

typedef struct Node {
    int kind;
    PyObject *local;       /* str */
    const char *local_utf8;
    PyObject *qualified;   /* str "module:name" */
    PyObject *json_name;   /* its member name in its parent's object: local, or qualified where the
                              namespaces differ or the parent is the top level (RFC 7951 §4) */
    char *namespace;       /* owned */
    Type *type;            /* leaves and leaf-lists */
    int patch_target;      /* a yang-patch value: its content depends on a sibling; declined */
    int n_children;
    struct Node **children;
    int *slots;            /* open addressing on the local name: child index + 1, 0 empty */
    unsigned int mask;
    struct Member *members; /* open addressing on the JSON member names children are known by */
    unsigned int member_mask;
} Node;

typedef struct Member {
    char *name; /* owned, NULL for an empty slot */
    Py_ssize_t size;
    Node *child;
} Member;

static unsigned int bytes_hash(const char *name, Py_ssize_t size)
{
    unsigned int hash = 2166136261u; /* FNV-1a */
    for (Py_ssize_t i = 0; i < size; i++)
        hash = (hash ^ (unsigned char)name[i]) * 16777619u;
    return hash;
}

static unsigned int name_hash(const char *name)
{
    return bytes_hash(name, (Py_ssize_t)strlen(name));
}

typedef struct {
    PyObject_HEAD
    Node *data;            /* every module's top-level data nodes (anydata content) */
    Node *events;          /* every module's top-level notifications */
    PyObject *namespace_module; /* dict: namespace -> module name */
    PyObject *empty_value; /* [None] */
    PyObject *json_loads;  /* orjson.loads */
    xmlParserCtxtPtr parser;
    int parses;            /* since the parser context was made; it is made anew now and then */
} Reader;

static void free_type(Type *type)
{
    if (type == NULL)
        return;
    Py_XDECREF(type->names);
    for (int i = 0; i < type->n_members; i++)
        free_type(type->members[i]);
    PyMem_Free(type->members);
    PyMem_Free(type);
}

static void free_node(Node *node)
{
    if (node == NULL)
        return;
    Py_XDECREF(node->local);
    Py_XDECREF(node->qualified);
    Py_XDECREF(node->json_name);
    PyMem_Free(node->namespace);
    free_type(node->type);
    for (int i = 0; i < node->n_children; i++)
        free_node(node->children[i]);
    PyMem_Free(node->children);
    PyMem_Free(node->slots);
    for (unsigned int i = 0; node->members != NULL && i <= node->member_mask; i++)
        PyMem_Free(node->members[i].name);
    PyMem_Free(node->members);
    PyMem_Free(node);
}

/* (base, wide, low, high, names, members) */
static Type *compile_type(PyObject *spec)
{
    if (!PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) != 6) {
        PyErr_SetString(PyExc_TypeError, "a type is (base, wide, low, high, names, members)");
        return NULL;
    }
    Type *type = PyMem_Calloc(1, sizeof(Type));
    if (type == NULL)
        return (Type *)PyErr_NoMemory();
    type->base = (int)PyLong_AsLong(PyTuple_GET_ITEM(spec, 0));
    type->wide = PyObject_IsTrue(PyTuple_GET_ITEM(spec, 1));
    if (!type->wide) {
        type->low = PyLong_AsLongLong(PyTuple_GET_ITEM(spec, 2));
        type->high = PyLong_AsLongLong(PyTuple_GET_ITEM(spec, 3));
    }
    type->names = Py_NewRef(PyTuple_GET_ITEM(spec, 4));
    PyObject *members = PyTuple_GET_ITEM(spec, 5);
    type->safe_in_cbor = type->base != T_IDENTITYREF && type->base != T_INSTANCE;
    if (PyErr_Occurred() || !PyTuple_Check(members)) {
        free_type(type);
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "union members must be a tuple");
        return NULL;
    }
    type->n_members = (int)PyTuple_GET_SIZE(members);
    type->members = PyMem_Calloc(type->n_members ? type->n_members : 1, sizeof(Type *));
    for (int i = 0; i < type->n_members; i++) {
        type->members[i] = compile_type(PyTuple_GET_ITEM(members, i));
        if (type->members[i] == NULL) {
            free_type(type);
            return NULL;
        }
        type->safe_in_cbor = type->safe_in_cbor && type->members[i]->safe_in_cbor;
    }
    return type;
}

/* (kind, local, qualified, namespace, type | None, patch_target, children, member_names)
 * where member_names[i] are the JSON names children[i] is known by (local and/or qualified). */
static Node *compile_node(PyObject *spec)
{
    if (!PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) != 8) {
        PyErr_SetString(PyExc_TypeError, "a node is (kind, local, qualified, namespace, type, patch, children, names)");
        return NULL;
    }
    Node *node = PyMem_Calloc(1, sizeof(Node));
    if (node == NULL)
        return (Node *)PyErr_NoMemory();
    node->kind = (int)PyLong_AsLong(PyTuple_GET_ITEM(spec, 0));
    node->local = Py_NewRef(PyTuple_GET_ITEM(spec, 1));
    node->qualified = Py_NewRef(PyTuple_GET_ITEM(spec, 2));
    node->local_utf8 = PyUnicode_AsUTF8(node->local);
    const char *namespace = PyUnicode_AsUTF8(PyTuple_GET_ITEM(spec, 3));
    if (namespace == NULL) {
        free_node(node);
        return NULL;
    }
    node->namespace = PyMem_Malloc(strlen(namespace) + 1);
    strcpy(node->namespace, namespace);
    PyObject *type = PyTuple_GET_ITEM(spec, 4);
    if (type != Py_None && (node->type = compile_type(type)) == NULL) {
        free_node(node);
        return NULL;
    }
    node->patch_target = PyObject_IsTrue(PyTuple_GET_ITEM(spec, 5));
    PyObject *children = PyTuple_GET_ITEM(spec, 6), *names = PyTuple_GET_ITEM(spec, 7);
    if (!PyTuple_Check(children) || !PyTuple_Check(names) || PyTuple_GET_SIZE(children) != PyTuple_GET_SIZE(names)) {
        PyErr_SetString(PyExc_TypeError, "children and their names must be tuples of one length");
        free_node(node);
        return NULL;
    }
    node->n_children = (int)PyTuple_GET_SIZE(children);
    node->children = PyMem_Calloc(node->n_children ? node->n_children : 1, sizeof(Node *));
    Py_ssize_t names_count = 0;
    for (int i = 0; i < node->n_children; i++) {
        PyObject *child_names = PyTuple_GET_ITEM(names, i);
        if (!PyTuple_Check(child_names)) {
            PyErr_SetString(PyExc_TypeError, "member names must be a tuple");
            free_node(node);
            return NULL;
        }
        names_count += PyTuple_GET_SIZE(child_names);
    }
    unsigned int member_size = 8;
    while (member_size < 2u * (unsigned int)names_count)
        member_size *= 2;
    node->member_mask = member_size - 1;
    node->members = PyMem_Calloc(member_size, sizeof(Member));
    if (node->children == NULL || node->members == NULL) {
        free_node(node);
        return (Node *)PyErr_NoMemory();
    }
    for (int i = 0; i < node->n_children; i++) {
        Node *child = node->children[i] = compile_node(PyTuple_GET_ITEM(children, i));
        if (child == NULL) {
            free_node(node);
            return NULL;
        }
        int same = node->namespace[0] != '\0' && strcmp(child->namespace, node->namespace) == 0;
        child->json_name = Py_NewRef(same ? child->local : child->qualified);
        PyObject *child_names = PyTuple_GET_ITEM(names, i);
        for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(child_names); j++) {
            Py_ssize_t size;
            const char *name = PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(child_names, j), &size);
            if (name == NULL) {
                free_node(node);
                return NULL;
            }
            unsigned int slot = bytes_hash(name, size) & node->member_mask;
            while (node->members[slot].name != NULL)
                slot = (slot + 1) & node->member_mask;
            node->members[slot].name = PyMem_Malloc(size + 1);
            memcpy(node->members[slot].name, name, size + 1);
            node->members[slot].size = size;
            node->members[slot].child = child;
        }
    }
    unsigned int size = 8;
    while (size < 2u * (unsigned int)node->n_children)
        size *= 2;
    node->mask = size - 1;
    node->slots = PyMem_Calloc(size, sizeof(int));
    if (node->slots == NULL) {
        free_node(node);
        return (Node *)PyErr_NoMemory();
    }
    for (int i = 0; i < node->n_children; i++) {
        unsigned int slot = name_hash(node->children[i]->local_utf8) & node->mask;
        while (node->slots[slot])
            slot = (slot + 1) & node->mask;
        node->slots[slot] = i + 1;
    }
    return node;
}

static Node *child_by_tag(const Node *parent, const char *namespace, const char *local)
{
    for (unsigned int slot = name_hash(local) & parent->mask; parent->slots[slot]; slot = (slot + 1) & parent->mask) {
        Node *child = parent->children[parent->slots[slot] - 1];
        if (strcmp(child->local_utf8, local) == 0 && strcmp(child->namespace, namespace) == 0)
            return child;
    }
    return NULL;
}

/* The child known by the JSON member name (the octets of a CBOR text key), or NULL. */
static Node *child_by_member(const Node *parent, const char *name, Py_ssize_t size)
{
    const Member *members = parent->members;
    for (unsigned int slot = bytes_hash(name, size) & parent->member_mask; members[slot].name != NULL;
         slot = (slot + 1) & parent->member_mask)
        if (members[slot].size == size && memcmp(members[slot].name, name, size) == 0)
            return members[slot].child;
    return NULL;
}

/* --- leaf values: XML text -> RFC 7951 JSON, as mso.yang_json's JSON dialect ------------------ */

#define DECLINE ((PyObject *)&declined_marker)
static PyObject declined_marker;  /* a value: "not certain; take the general path" */

/* Text whose Python reading (str.strip, str.split, int(), \d) is the ASCII one. */
static int plain_ascii(const char *text, Py_ssize_t size)
{
    for (Py_ssize_t i = 0; i < size; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c >= 0x80 || (c < 0x20 && c != '\t' && c != '\n' && c != '\r'))
            return 0;
    }
    return 1;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The integer `text` denotes when it fits [low, high], as mso.yang_json._integer: 1 and *number
 * set; 0 when it is not one; -1 on error; 2 when Python's int() might read it otherwise
 * (underscores, non-ASCII digits). Never called for the wide types. */
static int integer_of(const Type *type, const char *text, Py_ssize_t size, PyObject **number)
{
    *number = NULL;
    if (!plain_ascii(text, size) || memchr(text, '_', size) != NULL)
        return 2;
    Py_ssize_t i = (size > 0 && (text[0] == '+' || text[0] == '-')) ? 1 : 0;
    int negative = size > 0 && text[0] == '-';
    if (i == size)
        return 0;
    for (Py_ssize_t j = i; j < size; j++)
        if (text[j] < '0' || text[j] > '9')
            return 0;  /* whitespace or anything else: int() fails or the strip check does */
    while (i < size - 1 && text[i] == '0')
        i++;
    if (size - i > 18)
        return 0;  /* beyond every bound of a non-wide type */
    long long value = 0;
    for (; i < size; i++)
        value = value * 10 + (text[i] - '0');
    if (negative)
        value = -value;
    if (value < type->low || value > type->high)
        return 0;
    *number = PyLong_FromLongLong(value);
    return *number == NULL ? -1 : 1;
}

typedef struct Scope Scope; /* the namespaces in scope where a leaf is (XML only) */
static const char *namespace_of_prefix(Scope *scope, const char *prefix, Py_ssize_t size);

/* `module:name` of an identityref text in its namespace context, or NULL (not resolvable),
 * or DECLINE; as mso.yang_json._identity_to_json. */
static PyObject *identity_json(Reader *reader, Scope *scope, const char *text, Py_ssize_t size)
{
    if (!plain_ascii(text, size))
        return DECLINE;
    while (size > 0 && is_space(text[0])) {
        text++;
        size--;
    }
    while (size > 0 && is_space(text[size - 1]))
        size--;
    const char *colon = NULL;
    for (Py_ssize_t i = size; i-- > 0;)
        if (text[i] == ':') {
            colon = text + i;
            break;
        }
    Py_ssize_t prefix_size = colon ? colon - text : 0;
    const char *name = colon ? colon + 1 : text;
    Py_ssize_t name_size = size - (name - text);
    if (scope == NULL)
        return DECLINE;
    const char *uri = namespace_of_prefix(scope, text, prefix_size);
    if (uri == NULL || name_size == 0)
        return NULL;
    PyObject *namespace = PyUnicode_FromString(uri);
    if (namespace == NULL)
        return NULL;
    PyObject *module = PyDict_GetItemWithError(reader->namespace_module, namespace);
    Py_DECREF(namespace);
    if (module == NULL || PyUnicode_GET_LENGTH(module) == 0)
        return NULL;
    PyObject *local = PyUnicode_DecodeUTF8(name, name_size, "strict");
    PyObject *identity = local == NULL ? NULL : PyUnicode_FromFormat("%U:%U", module, local);
    Py_XDECREF(local);
    return identity;
}

static int accepts(Reader *reader, Scope *scope, const Type *type, const char *text, Py_ssize_t size);

/* The first member of a union whose lexical space holds the text (RFC 7950 §9.12), or NULL:
 * none does (the text stays a string), or *decline is set. */
static const Type *union_member(Reader *reader, Scope *scope, const Type *type, const char *text, Py_ssize_t size,
                                int *decline)
{
    for (int i = 0; i < type->n_members; i++) {
        int verdict = accepts(reader, scope, type->members[i], text, size);
        if (verdict < 0) {
            *decline = 1;
            return NULL;
        }
        if (verdict)
            return type->members[i];
    }
    return NULL;
}

/* 1 accepted, 0 not, -1 decline (or error, with an exception set) */
static int accepts(Reader *reader, Scope *scope, const Type *type, const char *text, Py_ssize_t size)
{
    switch (type->base) {
    case T_INTEGER: {
        if (type->wide)
            return -1;
        PyObject *number;
        int verdict = integer_of(type, text, size, &number);
        Py_XDECREF(number);
        return verdict == 2 ? -1 : verdict;
    }
    case T_BOOLEAN:
        return (size == 4 && memcmp(text, "true", 4) == 0) || (size == 5 && memcmp(text, "false", 5) == 0);
    case T_EMPTY:
        return size == 0;
    case T_ENUMERATION:
    case T_BITS: {
        if (!plain_ascii(text, size))
            return -1;
        if (type->base == T_ENUMERATION) {
            PyObject *name = PyUnicode_FromStringAndSize(text, size);
            int found = name == NULL ? -1 : PySet_Contains(type->names, name);
            Py_XDECREF(name);
            return found;
        }
        Py_ssize_t i = 0;
        while (i < size) {  /* every whitespace-separated word a bit name */
            while (i < size && is_space(text[i]))
                i++;
            Py_ssize_t start = i;
            while (i < size && !is_space(text[i]))
                i++;
            if (i > start) {
                PyObject *bit = PyUnicode_FromStringAndSize(text + start, i - start);
                int found = bit == NULL ? -1 : PySet_Contains(type->names, bit);
                Py_XDECREF(bit);
                if (found <= 0)
                    return found;
            }
        }
        return 1;
    }
    case T_DECIMAL64: {
        if (!plain_ascii(text, size))
            return -1;
        Py_ssize_t i = (size > 0 && (text[0] == '+' || text[0] == '-')) ? 1 : 0, digits = 0;
        while (i < size && text[i] >= '0' && text[i] <= '9') {
            i++;
            digits++;
        }
        if (digits == 0)
            return 0;
        if (i == size)
            return 1;
        if (text[i++] != '.')
            return 0;
        digits = 0;
        while (i < size && text[i] >= '0' && text[i] <= '9') {
            i++;
            digits++;
        }
        return digits > 0 && i == size;
    }
    case T_IDENTITYREF: {
        PyObject *identity = identity_json(reader, scope, text, size);
        if (identity == DECLINE)
            return -1;
        if (identity == NULL)
            return PyErr_Occurred() ? -1 : 0;
        Py_DECREF(identity);
        return 1;
    }
    case T_INSTANCE:
        return -1;
    case T_UNION: {
        int decline = 0;
        const Type *member = union_member(reader, scope, type, text, size, &decline);
        return decline ? -1 : member != NULL;
    }
    default:
        return 1;
    }
}

/* A leaf's JSON value from its text: a new reference, DECLINE, or NULL with an exception. */
static PyObject *leaf_json(Reader *reader, Scope *scope, const Type *type, const char *text, Py_ssize_t size)
{
    switch (type->base) {
    case T_INTEGER: {
        if (type->wide)
            break;
        PyObject *number;
        int verdict = integer_of(type, text, size, &number);
        if (verdict < 0)
            return NULL;
        if (verdict == 2)
            return DECLINE;
        if (verdict == 1)
            return number;
        break;
    }
    case T_BOOLEAN:
        if (size == 4 && memcmp(text, "true", 4) == 0)
            Py_RETURN_TRUE;
        if (size == 5 && memcmp(text, "false", 5) == 0)
            Py_RETURN_FALSE;
        break;
    case T_EMPTY:
        if (size == 0)
            return Py_NewRef(reader->empty_value);
        break;
    case T_IDENTITYREF: {
        PyObject *identity = identity_json(reader, scope, text, size);
        if (identity != NULL || PyErr_Occurred())
            return identity;
        break;
    }
    case T_UNION: {
        int decline = 0;
        const Type *member = union_member(reader, scope, type, text, size, &decline);
        if (decline)
            return PyErr_Occurred() ? NULL : DECLINE;
        if (member != NULL)
            return leaf_json(reader, scope, member, text, size);
        break;
    }
    case T_INSTANCE:
        return DECLINE;
    default:
        break;
    }
    return PyUnicode_DecodeUTF8(text, size, "strict");
}

/* Put `value` in `object` under `name`: appended to the array there for a list or leaf-list,
 * as mso.yang_json._encode_children. 0, or -1 (error, or DECLINE'd: *decline set). */
static int add_member(PyObject *object, const Node *node, PyObject *name, PyObject *value, int *decline)
{
    if (node->kind != LIST && node->kind != LEAFLIST)
        return PyDict_SetItem(object, name, value);
    PyObject *entries = PyDict_GetItemWithError(object, name);
    if (entries == NULL) {
        if (PyErr_Occurred())
            return -1;
        entries = PyList_New(0);
        if (entries == NULL || PyDict_SetItem(object, name, entries) < 0) {
            Py_XDECREF(entries);
            return -1;
        }
        Py_DECREF(entries);
    } else if (!PyList_CheckExact(entries)) {
        *decline = 1;
        return -1;
    }
    return PyList_Append(entries, value);
}

/* --- XML: SAX2 events into JSON objects ------------------------------------------------------ */

#define NOTIF_ENVELOPE "urn:ietf:params:xml:ns:yang:ietf-yp-notification"
#define MAX_DEPTH 256 /* libxml2's own nesting limit without XML_PARSE_HUGE */

enum { F_ENVELOPE, F_HEADER, F_CONTENTS, F_NODE, F_LEAF, F_SKIPPED };
enum { H_EVENT_TIME, H_SEQUENCE, H_HOSTNAME, H_OTHER };

typedef struct {
    int kind;              /* F_* */
    const Node *node;      /* F_NODE, F_LEAF */
    PyObject *object;      /* F_NODE: the JSON object being filled */
    int header;            /* F_HEADER: which */
    int namespaces;        /* declarations it pushed on the scope */
} Frame;

struct Scope {
    const xmlChar **declared; /* prefix, URI, prefix, URI... innermost last */
    int count, capacity;
};

typedef struct {
    Reader *reader;
    xmlParserCtxtPtr parser;
    int decline;
    Frame frames[MAX_DEPTH];
    int depth;
    Scope scope;
    char *text;           /* the open leaf's text, until its first child element */
    Py_ssize_t text_size, text_capacity;
    int text_open;
    PyObject *event;      /* the event's body object */
    PyObject *event_name;
    int events;           /* event elements seen in contents */
    PyObject *event_time; /* str */
    PyObject *sequence;   /* PyLong or NULL */
    int seen_time, seen_sequence, seen_hostname, seen_contents;
} XmlState;

static const char *namespace_of_prefix(Scope *scope, const char *prefix, Py_ssize_t size)
{
    for (int i = scope->count - 2; i >= 0; i -= 2) {
        const char *declared = (const char *)scope->declared[i];
        int match = declared == NULL ? size == 0
                                     : ((Py_ssize_t)strlen(declared) == size && memcmp(declared, prefix, size) == 0);
        if (match)
            return (const char *)scope->declared[i + 1];
    }
    return NULL;
}

static void decline(XmlState *state)
{
    state->decline = 1;
    xmlStopParser(state->parser);
}

static int push_namespaces(XmlState *state, int count, const xmlChar **namespaces)
{
    if (state->scope.count + 2 * count > state->scope.capacity) {
        int capacity = 2 * (state->scope.count + 2 * count) + 16;
        const xmlChar **grown = PyMem_Realloc(state->scope.declared, capacity * sizeof(xmlChar *));
        if (grown == NULL)
            return -1;
        state->scope.declared = grown;
        state->scope.capacity = capacity;
    }
    for (int i = 0; i < 2 * count; i++) {
        if (i % 2 == 1 && (namespaces[i] == NULL || namespaces[i][0] == '\0'))
            return -1; /* xmlns="": an element in no namespace follows; never ours */
        state->scope.declared[state->scope.count++] = namespaces[i];
    }
    return 0;
}

static void append_text(XmlState *state, const xmlChar *characters, int size)
{
    if (!state->text_open || state->decline)
        return;
    if (state->text_size + size + 1 > state->text_capacity) {
        Py_ssize_t capacity = 2 * (state->text_size + size) + 64;
        char *grown = PyMem_Realloc(state->text, capacity);
        if (grown == NULL) {
            decline(state);
            return;
        }
        state->text = grown;
        state->text_capacity = capacity;
    }
    memcpy(state->text + state->text_size, characters, size);
    state->text_size += size;
}

static void on_characters(void *context, const xmlChar *characters, int size)
{
    append_text((XmlState *)context, characters, size);
}

static int header_of(const char *local)
{
    if (strcmp(local, "event-time") == 0)
        return H_EVENT_TIME;
    if (strcmp(local, "sequence-number") == 0)
        return H_SEQUENCE;
    if (strcmp(local, "hostname") == 0)
        return H_HOSTNAME;
    if (strcmp(local, "contents") == 0)
        return -1;
    return H_OTHER;
}

static void on_start(void *context, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri,
                     int nb_namespaces, const xmlChar **namespaces, int nb_attributes, int nb_defaulted,
                     const xmlChar **attributes)
{
    (void)prefix, (void)nb_attributes, (void)nb_defaulted, (void)attributes;
    XmlState *state = context;
    if (state->decline)
        return;
    if (state->depth >= MAX_DEPTH || push_namespaces(state, nb_namespaces, namespaces) < 0) {
        decline(state);
        return;
    }
    const char *local = (const char *)localname, *namespace = uri ? (const char *)uri : "";
    Frame *parent = state->depth ? &state->frames[state->depth - 1] : NULL;
    Frame *frame = &state->frames[state->depth++];
    memset(frame, 0, sizeof *frame);
    frame->namespaces = nb_namespaces;
    if (parent == NULL) {
        if (strcmp(namespace, NOTIF_ENVELOPE) != 0 || strcmp(local, "envelope") != 0) {
            decline(state); /* the RFC 5277 <notification>, or not ours at all */
            return;
        }
        frame->kind = F_ENVELOPE;
        return;
    }
    if (parent->kind == F_LEAF || parent->kind == F_SKIPPED || parent->kind == F_HEADER) {
        state->text_open = 0; /* a leaf's text is what comes before its first child */
        frame->kind = F_SKIPPED;
        return;
    }
    if (parent->kind == F_ENVELOPE) {
        if (strcmp(namespace, NOTIF_ENVELOPE) != 0) {
            frame->kind = F_SKIPPED;
            return;
        }
        int header = header_of(local);
        int *seen = header == H_EVENT_TIME ? &state->seen_time : header == H_SEQUENCE ? &state->seen_sequence
                  : header == H_HOSTNAME ? &state->seen_hostname : header < 0 ? &state->seen_contents : NULL;
        if (seen != NULL && (*seen)++) {
            decline(state); /* a second one: the general reader keeps the last, this one would not */
            return;
        }
        if (header < 0) {
            frame->kind = F_CONTENTS;
            return;
        }
        frame->kind = F_HEADER;
        frame->header = header;
        state->text_size = 0;
        state->text_open = 1;
        return;
    }
    const Node *scope = parent->kind == F_CONTENTS ? state->reader->events : parent->node;
    if (parent->kind == F_CONTENTS && state->events++) {
        decline(state);
        return;
    }
    if (parent->kind == F_NODE && parent->node->kind == ANYDATA) {
        if (parent->node->patch_target) {
            decline(state);
            return;
        }
        scope = state->reader->data;
    }
    const Node *node = child_by_tag(scope, namespace, local);
    if (node == NULL) {
        decline(state); /* the schema does not know it: the general reader says so */
        return;
    }
    frame->node = node;
    if (node->kind == LEAF || node->kind == LEAFLIST) {
        frame->kind = F_LEAF;
        state->text_size = 0;
        state->text_open = 1;
        return;
    }
    frame->kind = F_NODE;
    frame->object = PyDict_New();
    if (frame->object == NULL)
        decline(state);
}

static PyObject *counter32_of(const char *text, Py_ssize_t size)
{
    if (text == NULL || size == 0 || size > 10)
        return NULL;
    unsigned long long value = 0;
    for (Py_ssize_t i = 0; i < size; i++) {
        if (text[i] < '0' || text[i] > '9')
            return NULL;
        value = value * 10 + (unsigned long long)(text[i] - '0');
    }
    return value > 0xFFFFFFFFULL ? NULL : PyLong_FromUnsignedLongLong(value);
}

/* A frame's element ended: its value goes to its parent's object (or is the event, or a header). */
static void end_frame(XmlState *state, Frame *frame)
{
    Frame *parent = frame > state->frames ? frame - 1 : NULL;
    PyObject *value;
    if (frame->kind == F_HEADER) {
        state->text_open = 0;
        if (frame->header == H_EVENT_TIME) {
            if (state->text_size == 0) { /* no event time: the general reader refuses it */
                decline(state);
                return;
            }
            state->event_time = PyUnicode_DecodeUTF8(state->text, state->text_size, "strict");
        } else if (frame->header == H_SEQUENCE) {
            state->sequence = counter32_of(state->text, state->text_size);
        } else {
            return;
        }
        if ((frame->header == H_EVENT_TIME ? state->event_time : state->sequence) == NULL) {
            PyErr_Clear();
            decline(state);
        }
        return;
    }
    if (frame->kind == F_LEAF) {
        state->text_open = 0;
        value = leaf_json(state->reader, &state->scope, frame->node->type, state->text ? state->text : "",
                          state->text_size);
        if (value == DECLINE || value == NULL) {
            PyErr_Clear();
            decline(state);
            return;
        }
    } else if (frame->kind == F_NODE) {
        value = frame->object;
        frame->object = NULL;
    } else {
        return;
    }
    if (parent->kind == F_CONTENTS) {
        state->event = value;
        state->event_name = Py_NewRef(frame->node->qualified);
        return;
    }
    int declined = 0;
    if (add_member(parent->object, frame->node, frame->node->json_name, value, &declined) < 0) {
        PyErr_Clear();
        decline(state);
    }
    Py_DECREF(value);
}

static void on_end(void *context, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri)
{
    (void)localname, (void)prefix, (void)uri;
    XmlState *state = context;
    if (state->decline || state->depth == 0)
        return;
    Frame *frame = &state->frames[state->depth - 1];
    end_frame(state, frame);
    state->scope.count -= 2 * frame->namespaces; /* after: a leaf's text is read with its own declarations */
    state->depth--;
}

static void on_cdata(void *context, const xmlChar *characters, int size)
{
    append_text((XmlState *)context, characters, size);
}

static void on_internal_subset(void *context, const xmlChar *name, const xmlChar *external, const xmlChar *system)
{
    (void)name, (void)external, (void)system;
    decline((XmlState *)context); /* a DTD: refused by the general reader */
}

static void on_error(void *context, const char *message, ...)
{
    (void)message;
    XmlState *state = context;
    state->decline = 1;
}

static void on_structured_error(void *context, xmlErrorPtr error)
{
    (void)error;
    ((XmlState *)context)->decline = 1;
}

static xmlSAXHandler sax;

static void init_sax(void)
{
    memset(&sax, 0, sizeof sax);
    sax.initialized = XML_SAX2_MAGIC;
    sax.startElementNs = on_start;
    sax.endElementNs = on_end;
    sax.characters = on_characters;
    sax.cdataBlock = on_cdata;
    sax.internalSubset = on_internal_subset;
    sax.externalSubset = on_internal_subset;
    sax.warning = NULL;
    sax.error = on_error;
    sax.fatalError = on_error;
    sax.serror = on_structured_error;
}

static void clear_frames(XmlState *state)
{
    for (; state->depth > 0; state->depth--)
        Py_CLEAR(state->frames[state->depth - 1].object); /* a macro: its argument is read twice */
}

#define PARSES_PER_CONTEXT 10000 /* its name dictionary only grows: start afresh now and then */
#define OPTIONS XML_PARSE_NONET /* errors reach our handlers, which decline */

static PyObject *read_xml(Reader *self, PyObject *payload)
{
    char *buffer;
    Py_ssize_t size;
    if (PyBytes_AsStringAndSize(payload, &buffer, &size) < 0)
        return NULL;
    while (size > 0 && is_space(buffer[0])) { /* whitespace before the declaration is forgiven */
        buffer++;
        size--;
    }
    if (size == 0 || size > INT_MAX)
        Py_RETURN_NONE;
    if (self->parser != NULL && self->parses >= PARSES_PER_CONTEXT) {
        xmlFreeParserCtxt(self->parser);
        self->parser = NULL;
    }
    XmlState *state = PyMem_Calloc(1, sizeof(XmlState));
    if (state == NULL)
        return PyErr_NoMemory();
    state->reader = self;
    if (self->parser == NULL) {
        self->parser = xmlCreatePushParserCtxt(&sax, state, NULL, 0, NULL);
        self->parses = 0;
        if (self->parser == NULL) {
            PyMem_Free(state);
            Py_RETURN_NONE;
        }
        xmlCtxtUseOptions(self->parser, OPTIONS);
    }
    xmlParserCtxtPtr parser = self->parser;
    self->parses++;
    xmlCtxtResetPush(parser, NULL, 0, NULL, NULL);
    xmlCtxtUseOptions(parser, OPTIONS);
    parser->userData = state;
    parser->_private = state;
    state->parser = parser;
    int failed = xmlParseChunk(parser, buffer, (int)size, 1);
    int ok = !failed && !state->decline && parser->wellFormed && parser->nsWellFormed && state->event != NULL
             && state->events == 1 && state->event_time != NULL;
    parser->userData = NULL;
    PyObject *result = NULL;
    if (ok) {
        PyObject *sequence = state->sequence ? state->sequence : Py_None;
        result = PyTuple_Pack(4, state->event_name, state->event, state->event_time, sequence);
    }
    clear_frames(state);
    Py_XDECREF(state->event);
    Py_XDECREF(state->event_name);
    Py_XDECREF(state->event_time);
    Py_XDECREF(state->sequence);
    PyMem_Free(state->scope.declared);
    PyMem_Free(state->text);
    PyMem_Free(state);
    if (failed || !ok) {
        /* a parser stopped mid-document is not reused */
        xmlFreeParserCtxt(self->parser);
        self->parser = NULL;
    }
    if (result == NULL) {
        if (PyErr_Occurred())
            PyErr_Clear();
        Py_RETURN_NONE;
    }
    return result;
}

/* --- CBOR: decoded straight into JSON, as CBOR -> XML -> JSON through mso.yang_json --------- *
 *
 * One pass over the definite-length subset (RFC 8949 major types 0-5 and false, true, null),
 * walking the schema as it goes; tags, floats, undefined, indefinite lengths, non-text keys,
 * a key twice in one map and trailing octets are declined (cbor2, the general reader, has its
 * own rules for those). A scalar becomes the XML text mso.yang_json's CBOR dialect gives it,
 * then the JSON value of that text, so both readings agree by construction. */

typedef struct {
    const unsigned char *at, *end;
    int depth;
} Cbor;

typedef struct {
    int major;
    unsigned long long argument; /* the value, length or count */
    int simple;                  /* major 7: 20 false, 21 true, 22 null */
} Head;

/* 0, or -1: not in the subset, or cut short */
static int cbor_head(Cbor *cbor, Head *head)
{
    if (cbor->at >= cbor->end)
        return -1;
    int major = *cbor->at >> 5, info = *cbor->at & 0x1F;
    cbor->at++;
    head->major = major;
    if (major == 7) {
        head->simple = info;
        return info >= 20 && info <= 22 ? 0 : -1;
    }
    if (major == 6)
        return -1;
    int bytes = info < 24 ? 0 : info == 24 ? 1 : info == 25 ? 2 : info == 26 ? 4 : info == 27 ? 8 : -1;
    if (bytes < 0 || cbor->end - cbor->at < bytes)
        return -1;
    unsigned long long value = bytes == 0 ? (unsigned long long)info : 0;
    for (int i = 0; i < bytes; i++)
        value = value << 8 | *cbor->at++;
    head->argument = value;
    if ((major == 2 || major == 3) && value > (unsigned long long)(cbor->end - cbor->at))
        return -1;
    return 0;
}

/* Step over one item, checking it is in the subset: 0, or -1. */
static int cbor_skip(Cbor *cbor)
{
    Head head;
    if (++cbor->depth > MAX_DEPTH || cbor_head(cbor, &head) < 0)
        return -1;
    if (head.major == 2 || head.major == 3) {
        if (head.major == 3) {
            PyObject *text = PyUnicode_DecodeUTF8((const char *)cbor->at, (Py_ssize_t)head.argument, "strict");
            if (text == NULL) {
                PyErr_Clear();
                return -1;
            }
            Py_DECREF(text);
        }
        cbor->at += head.argument;
    } else if (head.major == 4 || head.major == 5) {
        unsigned long long items = head.major == 5 ? 2 * head.argument : head.argument;
        if (items > (unsigned long long)(cbor->end - cbor->at))
            return -1;
        for (unsigned long long i = 0; i < items; i++)
            if (cbor_skip(cbor) < 0)
                return -1;
    }
    cbor->depth--;
    return 0;
}

static const char BASE64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Text fit for an lxml element: no control characters but tab, newline and return, no U+FFFE/FFFF. */
static int xml_text_ok(const unsigned char *text, Py_ssize_t size)
{
    for (Py_ssize_t i = 0; i < size; i++) {
        unsigned char c = text[i];
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
            return 0;
        if (c == 0xEF && i + 2 < size && text[i + 1] == 0xBF && (text[i + 2] == 0xBE || text[i + 2] == 0xBF))
            return 0;
    }
    return 1;
}

/* A leaf's JSON value from a CBOR scalar (mso.yang_json's CBOR dialect decode, then JSON encode). */
static PyObject *cbor_leaf(Reader *reader, Cbor *cbor, const Type *type)
{
    Head head;
    if (++cbor->depth > MAX_DEPTH || cbor_head(cbor, &head) < 0)
        return DECLINE;
    cbor->depth--;
    char number[24];
    const char *text;
    Py_ssize_t size;
    if (head.major == 3) {
        text = (const char *)cbor->at;
        size = (Py_ssize_t)head.argument;
        cbor->at += head.argument;
        if (type->base == T_IDENTITYREF) {
            /* with one colon and no whitespace, module:name comes out as it went in, known module or not */
            int colons = 0;
            for (Py_ssize_t i = 0; i < size; i++) {
                unsigned char c = (unsigned char)text[i];
                if (c <= ' ' || c >= 0x7F)
                    return DECLINE;
                colons += c == ':';
            }
            return colons == 1 ? PyUnicode_DecodeUTF8(text, size, "strict") : DECLINE;
        }
        if (!type->safe_in_cbor || !xml_text_ok((const unsigned char *)text, size))
            return DECLINE;
    } else if (type->base == T_IDENTITYREF || !type->safe_in_cbor) {
        return DECLINE; /* a non-text identity is resolved in the leaf's own namespace: left to the general reader */
    } else if (head.major == 0 || head.major == 1) {
        if (head.major == 0)
            size = snprintf(number, sizeof number, "%llu", head.argument);
        else if (head.argument == ULLONG_MAX)
            size = snprintf(number, sizeof number, "-18446744073709551616");
        else
            size = snprintf(number, sizeof number, "-%llu", head.argument + 1);
        text = number;
    } else if (head.major == 7) {
        text = head.simple == 20 ? "false" : head.simple == 21 ? "true" : "";
        size = (Py_ssize_t)strlen(text);
    } else if (head.major == 4) {
        /* [null] is the empty value; any other array at a leaf the general reader refuses */
        if (head.argument != 1 || cbor->at >= cbor->end || *cbor->at != 0xF6)
            return DECLINE;
        cbor->at++;
        text = "";
        size = 0;
    } else if (head.major == 2) {
        Py_ssize_t length = (Py_ssize_t)head.argument, encoded = 4 * ((length + 2) / 3);
        char *base64 = PyMem_Malloc(encoded + 1);
        if (base64 == NULL)
            return PyErr_NoMemory();
        const unsigned char *in = cbor->at;
        char *out = base64;
        for (Py_ssize_t i = 0; i < length; i += 3) {
            unsigned int chunk = in[i] << 16 | (i + 1 < length ? in[i + 1] << 8 : 0) | (i + 2 < length ? in[i + 2] : 0);
            *out++ = BASE64[chunk >> 18 & 63];
            *out++ = BASE64[chunk >> 12 & 63];
            *out++ = i + 1 < length ? BASE64[chunk >> 6 & 63] : '=';
            *out++ = i + 2 < length ? BASE64[chunk & 63] : '=';
        }
        cbor->at += length;
        PyObject *json = leaf_json(reader, NULL, type, base64, encoded);
        PyMem_Free(base64);
        return json;
    } else {
        return DECLINE;
    }
    return leaf_json(reader, NULL, type, text, size);
}

static PyObject *cbor_object(Reader *reader, Cbor *cbor, const Node *scope);

/* The JSON value of one item at `node` (not a list's array: one entry of it). */
static PyObject *cbor_node(Reader *reader, Cbor *cbor, const Node *node)
{
    if (node->kind == LEAF || node->kind == LEAFLIST)
        return cbor_leaf(reader, cbor, node->type);
    if (node->patch_target)
        return DECLINE;
    return cbor_object(reader, cbor, node->kind == ANYDATA ? reader->data : node);
}

/* A CBOR map of members of `scope` into a JSON object. */
static PyObject *cbor_object(Reader *reader, Cbor *cbor, const Node *scope)
{
    Head head;
    if (++cbor->depth > MAX_DEPTH || cbor_head(cbor, &head) < 0 || head.major != 5
        || head.argument > (unsigned long long)(cbor->end - cbor->at) / 2)
        return DECLINE;
    PyObject *out = PyDict_New();
    const Node *seen[64];
    int n_seen = 0;
    for (unsigned long long i = 0; out != NULL && i < head.argument; i++) {
        Head key;
        if (cbor_head(cbor, &key) < 0 || key.major != 3)
            goto declined;
        const Node *node = child_by_member(scope, (const char *)cbor->at, (Py_ssize_t)key.argument);
        cbor->at += key.argument;
        if (node == NULL || n_seen == 64)
            goto declined; /* unknown to the schema (the general reader says why), or too many to track */
        for (int j = 0; j < n_seen; j++)
            if (seen[j] == node)
                goto declined; /* twice in one map: cbor2 keeps the last, walking keeps both */
        seen[n_seen++] = node;
        unsigned long long entries = 1;
        if (node->kind == LIST || node->kind == LEAFLIST) {
            Head array;
            if (cbor_head(cbor, &array) < 0 || array.major != 4
                || array.argument > (unsigned long long)(cbor->end - cbor->at))
                goto declined;
            entries = array.argument;
        }
        for (unsigned long long j = 0; j < entries; j++) {
            PyObject *json = cbor_node(reader, cbor, node);
            int declined = 0;
            if (json == NULL || json == DECLINE) {
                if (json == NULL && PyErr_Occurred() && !PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
                    Py_DECREF(out);
                    return NULL;
                }
                goto declined;
            }
            int failed = add_member(out, node, node->json_name, json, &declined);
            Py_DECREF(json);
            if (failed < 0) {
                if (!declined && !PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
                    Py_DECREF(out);
                    return NULL;
                }
                goto declined;
            }
        }
    }
    cbor->depth--;
    return out;
declined:
    PyErr_Clear();
    Py_XDECREF(out);
    return DECLINE;
}

enum { E_EVENT_TIME, E_HOSTNAME, E_SEQUENCE, E_CONTENTS, E_OTHER };

static int envelope_member(const unsigned char *name, Py_ssize_t size)
{
    static const char *const names[] = {"event-time", "hostname", "sequence-number", "contents"};
    for (int i = 0; i < 4; i++)
        if ((Py_ssize_t)strlen(names[i]) == size && memcmp(names[i], name, size) == 0)
            return i;
    return E_OTHER;
}

#define ENVELOPE_MEMBER "ietf-yp-notification:envelope"

static PyObject *read_cbor(Reader *self, PyObject *payload)
{
    char *buffer;
    Py_ssize_t size;
    if (PyBytes_AsStringAndSize(payload, &buffer, &size) < 0)
        return NULL;
    Cbor cbor = {(const unsigned char *)buffer, (const unsigned char *)buffer + size, 0};
    Head head, key;
    PyObject *event_time = NULL, *sequence = NULL, *body = NULL, *result = NULL;
    const Node *event = NULL;
    int seen[E_OTHER] = {0};
    if (cbor_head(&cbor, &head) < 0 || head.major != 5 || head.argument != 1 || cbor_head(&cbor, &key) < 0
        || key.major != 3 || key.argument != strlen(ENVELOPE_MEMBER)
        || memcmp(cbor.at, ENVELOPE_MEMBER, key.argument) != 0)
        goto done;
    cbor.at += key.argument;
    if (cbor_head(&cbor, &head) < 0 || head.major != 5)
        goto done;
    for (unsigned long long i = 0; i < head.argument; i++) {
        if (cbor_head(&cbor, &key) < 0 || key.major != 3)
            goto done;
        int member = envelope_member(cbor.at, (Py_ssize_t)key.argument);
        cbor.at += key.argument;
        if (member != E_OTHER && seen[member]++)
            goto done; /* twice: cbor2 keeps the last */
        if (member == E_OTHER) {
            if (cbor_skip(&cbor) < 0)
                goto done;
            continue;
        }
        Head value;
        if (cbor_head(&cbor, &value) < 0)
            goto done;
        if (member == E_EVENT_TIME || member == E_HOSTNAME) {
            int null = value.major == 7 && value.simple == 22;
            if (value.major != 3 && !(member == E_HOSTNAME && null))
                goto done; /* an event time must be text, a hostname text or null */
            if (value.major == 3) {
                PyObject *text = PyUnicode_DecodeUTF8((const char *)cbor.at, (Py_ssize_t)value.argument, "strict");
                cbor.at += value.argument;
                if (text == NULL)
                    goto done;
                if (member == E_EVENT_TIME)
                    event_time = text;
                else
                    Py_DECREF(text);
            }
        } else if (member == E_SEQUENCE) {
            /* a counter32 integer, or null (absent); its decimal text the general reader also takes: declined */
            if (value.major == 0 && value.argument <= 0xFFFFFFFFULL)
                sequence = PyLong_FromUnsignedLongLong(value.argument);
            else if (!(value.major == 7 && value.simple == 22))
                goto done;
        } else {
            /* contents: a map of exactly one event */
            Head event_key;
            if (value.major != 5 || value.argument != 1 || cbor_head(&cbor, &event_key) < 0 || event_key.major != 3)
                goto done;
            event = child_by_member(self->events, (const char *)cbor.at, (Py_ssize_t)event_key.argument);
            cbor.at += event_key.argument;
            if (event == NULL)
                goto done;
            body = cbor_object(self, &cbor, event);
            if (body == NULL || body == DECLINE) {
                body = NULL;
                goto done;
            }
        }
    }
    if (cbor.at == cbor.end && body != NULL && event_time != NULL)
        result = PyTuple_Pack(4, event->qualified, body, event_time, sequence ? sequence : Py_None);
done:
    Py_XDECREF(event_time);
    Py_XDECREF(sequence);
    Py_XDECREF(body);
    if (result == NULL) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    return result;
}

/* --- JSON: orjson's tree, checked for our envelope -------------------------------------------- *
 * The check collector.decoding made in Python, here: one object member, the envelope, whose
 * contents hold one event object under a qualified name, a text event-time and a counter32
 * sequence-number or none. The members are RFC 7951 JSON already. */

static PyObject *read_json(Reader *self, PyObject *payload)
{
    PyObject *tree = PyObject_CallOneArg(self->json_loads, payload), *result = NULL;
    if (tree == NULL) {
        PyErr_Clear(); /* not JSON: the general decoder says so */
        Py_RETURN_NONE;
    }
    PyObject *envelope = PyDict_CheckExact(tree) && PyDict_GET_SIZE(tree) == 1
                         ? PyDict_GetItemString(tree, ENVELOPE_MEMBER) : NULL;
    if (envelope == NULL || !PyDict_CheckExact(envelope))
        goto done;
    PyObject *contents = PyDict_GetItemString(envelope, "contents");
    PyObject *event_time = PyDict_GetItemString(envelope, "event-time");
    PyObject *sequence = PyDict_GetItemString(envelope, "sequence-number");
    if (contents == NULL || !PyDict_CheckExact(contents) || PyDict_GET_SIZE(contents) != 1 || event_time == NULL
        || !PyUnicode_CheckExact(event_time))
        goto done;
    if (sequence == Py_None)
        sequence = NULL;
    if (sequence != NULL) {
        int overflow;
        long long number = PyLong_CheckExact(sequence) ? PyLong_AsLongLongAndOverflow(sequence, &overflow) : -1;
        if (!PyLong_CheckExact(sequence) || overflow || number < 0 || number > 0xFFFFFFFFLL)
            goto done;
    }
    PyObject *name, *body;
    Py_ssize_t position = 0;
    PyDict_Next(contents, &position, &name, &body);
    if (!PyDict_CheckExact(body) || PyUnicode_FindChar(name, ':', 0, PyUnicode_GET_LENGTH(name), 1) < 0)
        goto done;
    result = PyTuple_Pack(4, name, body, event_time, sequence ? sequence : Py_None);
done:
    Py_DECREF(tree);
    if (result == NULL) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    return result;
}

/* --- the Reader type -------------------------------------------------------------------------- */

static int reader_init(Reader *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"data", "events", "namespace_module", NULL};
    PyObject *data, *events, *namespace_module;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOO!", keywords, &data, &events, &PyDict_Type,
                                     &namespace_module))
        return -1;
    self->data = compile_node(data);
    self->events = self->data == NULL ? NULL : compile_node(events);
    if (self->events == NULL)
        return -1;
    self->namespace_module = Py_NewRef(namespace_module);
    self->empty_value = Py_BuildValue("[O]", Py_None);
    PyObject *orjson = PyImport_ImportModule("orjson");
    self->json_loads = orjson == NULL ? NULL : PyObject_GetAttrString(orjson, "loads");
    Py_XDECREF(orjson);
    if (self->json_loads == NULL)
        return -1;
    return self->empty_value == NULL ? -1 : 0;
}

static void reader_dealloc(Reader *self)
{
    free_node(self->data);
    free_node(self->events);
    Py_XDECREF(self->namespace_module);
    Py_XDECREF(self->empty_value);
    Py_XDECREF(self->json_loads);
    if (self->parser != NULL)
        xmlFreeParserCtxt(self->parser);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef reader_methods[] = {
    {"xml", (PyCFunction)read_xml, METH_O, "xml(payload) -> (name, body, event-time, sequence-number) | None"},
    {"cbor", (PyCFunction)read_cbor, METH_O, "cbor(payload) -> (name, body, event-time, sequence-number) | None"},
    {"json", (PyCFunction)read_json, METH_O, "json(payload) -> (name, body, event-time, sequence-number) | None"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ReaderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "collector._payloads.Reader",
    .tp_basicsize = sizeof(Reader),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Reader(data, events, namespace_module): notif-envelope payloads in XML or CBOR to RFC 7951 JSON",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)reader_init,
    .tp_dealloc = (destructor)reader_dealloc,
    .tp_methods = reader_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "collector._payloads", "Schema-aware readers of XML and CBOR notif-envelope payloads.", -1,
    NULL,
};

PyMODINIT_FUNC PyInit__payloads(void)
{
    xmlInitParser();
    init_sax();
    if (PyType_Ready(&ReaderType) < 0)
        return NULL;
    PyObject *created = PyModule_Create(&module);
    if (created == NULL)
        return NULL;
    if (PyModule_AddObjectRef(created, "Reader", (PyObject *)&ReaderType) < 0) {
        Py_DECREF(created);
        return NULL;
    }
    return created;
}
