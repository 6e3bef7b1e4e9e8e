"""The YANG schema of the Master publisher, as data: one libyang context built at startup.

`Schema.load()` loads the module set below (IETF modules from pyang's installed copies, ours
from `yang/`), and derives from it what the NETCONF server announces and serves: hello
capabilities, the YANG library (RFC 8525 and the deprecated RFC 7895 view), the RFC 6022 schema
list and get-schema text, a key index of every list, and validation of instance data with
NETCONF error tags. It does no network I/O and is read-only once built.

Submodules are not supported: libyang refuses a submodule file in yang/ as a module, and the
YANG library views list none.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.metadata
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import libyang
from _libyang import ffi, lib  # the binding's C layer: feature-aware loading, structured errors
from libyang.util import c2str, ly_array_iter
from lxml import etree

from mso import namespaces as ns
from mso.instance_path import path_steps

# Every module the server implements, with the features it enables. All other features stay
# disabled: `replay` (RFC 8639) and the RFC 6241 capabilities we do not serve are left out on
# purpose. Every .yang file in yang/ (and in Schema.load's extra_dirs) is implemented as well,
# with its features taken from this table when it is listed here.
IMPLEMENTED_MODULES: Mapping[str, tuple[str, ...]] = {
    "ietf-netconf": ("writable-running", "xpath"),
    "ietf-netconf-monitoring": (),
    "ietf-netconf-notifications": (),
    "ietf-yang-library": (),
    "ietf-datastores": (),
    "ietf-subscribed-notifications": ("configured", "encode-json", "encode-xml", "subtree", "xpath"),
    "ietf-yang-push": ("on-change",),
    "ietf-yang-patch": (),
    "ietf-interfaces": (),
    "iana-if-type": (),
    "ietf-hardware": ("hardware-sensor",),
    "iana-hardware": (),
    "ietf-netconf-acm": (),
    "ietf-multiple-stream-originators": (),
    "ietf-subscribed-notif-receivers": (),
    "ietf-udp-notif-transport": ("encode-cbor",),
    "ietf-distributed-notif": (),
    "mso-distributed-export": (),
    "ietf-telemetry-message": ("data-collection-manifest", "network-node-manifest"),
}

# Protocol capabilities (RFC 6241 §8) of what the server implements, announced before the
# per-module ones. No RFC 5277 notification/interleave: subscriptions are RFC 8639.
PROTOCOL_CAPABILITIES = (
    ns.BASE_1_0,
    ns.BASE_1_1,
    "urn:ietf:params:netconf:capability:writable-running:1.0",
    "urn:ietf:params:netconf:capability:xpath:1.0",
)

YANG_LIBRARY_CAPABILITY = "urn:ietf:params:netconf:capability:yang-library:1.1"
YANG_LIBRARY_REVISION = "2019-01-04"
MODULE_SET = "complete"  # the one module set and schema every datastore uses
DATASTORES = ("running", "operational")
SCHEMA_FORMATS = ("yang", "yin")  # RFC 6022 identities get-schema can return

_LYS_VERSION_1_1 = 0x02  # libyang's lysp_module.version for "yang-version 1.1"
_PYANG_MODULES = Path("share", "yang", "modules")


def ietf_module_dirs() -> list[Path]:
    """The ietf/ and iana/ directories of the YANG modules pyang installs (share/yang/modules)."""
    roots = [_pyang_modules_root(), Path(sys.prefix) / _PYANG_MODULES]
    for root in roots:
        if root is not None and root.is_dir():
            return sorted(d for d in root.iterdir() if d.is_dir())
    raise SchemaError(f"pyang's YANG modules not found (looked in {[str(r) for r in roots]})")


def _pyang_modules_root() -> Path | None:
    """share/yang/modules as recorded in pyang's installed file list, wherever it was installed."""
    try:
        files = importlib.metadata.distribution("pyang").files or ()
    except importlib.metadata.PackageNotFoundError:
        return None
    marker = _PYANG_MODULES.parts
    for file in files:
        parts = Path(file.locate()).resolve().parts
        for i in range(len(parts) - len(marker)):
            if parts[i : i + len(marker)] == marker:
                return Path(*parts[: i + len(marker)])
    return None


def project_yang_dir() -> Path:
    """The repository's yang/ directory, which holds the project's own modules."""
    return Path(__file__).parent.parent / "yang"


@dataclass(frozen=True)
class ModuleInfo:
    """One module of the context."""

    name: str
    revision: str | None
    namespace: str
    prefix: str
    yang_version: str  # "1.0" or "1.1"
    features: tuple[str, ...]  # enabled features
    implemented: bool  # False: import-only
    source_path: Path | None  # None for libyang's built-in modules that exist in no file
    deviations: tuple[str, ...] = ()  # names of the modules that deviate this one

    @property
    def version(self) -> str:
        """The revision as RFC 6022 and RFC 7895 spell it: the empty string when there is none."""
        return self.revision or ""


class SchemaError(Exception):
    """The module set cannot be loaded."""


class ValidationError(Exception):
    """Instance data that the schema rejects, with what a NETCONF <rpc-error> needs.

    `error_path` uses the YANG prefixes of the modules; `path_namespaces` binds each prefix that
    occurs in it to its namespace, so that the <error-path> element can declare them.
    `bad_element` / `bad_namespace` are the <error-info> RFC 6241 Appendix A asks for with the
    unknown-element, unknown-namespace, missing-element and bad-element tags.
    """

    def __init__(
        self,
        error_tag: str,
        error_message: str,
        error_path: str | None = None,
        error_app_tag: str | None = None,
        *,
        path_namespaces: Mapping[str, str] | None = None,
        bad_element: str | None = None,
        bad_namespace: str | None = None,
    ) -> None:
        super().__init__(f"{error_tag}: {error_message}" + (f" ({error_path})" if error_path else ""))
        self.error_tag = error_tag
        self.error_message = error_message
        self.error_path = error_path
        self.error_app_tag = error_app_tag
        self.path_namespaces: Mapping[str, str] = path_namespaces or {}
        self.bad_element = bad_element
        self.bad_namespace = bad_namespace


@dataclass(frozen=True)
class _LyError:
    """One error item libyang recorded, before the binding flattens it into a message string."""

    message: str
    location: str | None  # 'Data location "/m:a/b[k='v']", line number 1.' and the like
    app_tag: str | None


class _LibyangFailure(libyang.LibyangError):
    """A LibyangError that keeps the error items; `errors` is never empty."""

    def __init__(self, text: str, errors: tuple[_LyError, ...]) -> None:
        super().__init__(text)
        self.errors = errors


class _Context(libyang.Context):
    """A libyang.Context whose errors keep libyang's items (message, location, app-tag) apart."""

    def error(self, msg: str, *args: object) -> libyang.LibyangError:
        errors = tuple(_error_items(self.cdata)) if self.cdata else ()
        flattened = str(super().error(msg, *args))  # also clears libyang's error list
        return _LibyangFailure(flattened, errors or (_LyError(flattened, None, None),))


def _error_items(ctx_cdata: object) -> Iterator[_LyError]:
    item = lib.ly_err_first(ctx_cdata)
    while item:
        if item.level == lib.LY_LLERR:
            yield _LyError(c2str(item.msg) or "", c2str(item.path), c2str(item.apptag))
        item = item.next


# libyang 2.1 messages -> (NETCONF error-tag, error-app-tag), first match wins. Tags per
# RFC 7950 §8.3.1 and §15 and RFC 6241 Appendix A. Groups name the offending node when known.
_ERROR_RULES: tuple[tuple[re.Pattern[str], str, str | None], ...] = tuple(
    (re.compile(pattern), tag, app_tag)
    for pattern, tag, app_tag in (
        (r'^No module with namespace "(?P<namespace>[^"]*)"', "unknown-namespace", None),
        (r'^Node "(?P<element>[^"]*)" not found', "unknown-element", None),
        (r'^Unexpected data state node "(?P<element>[^"]*)"', "unknown-element", None),
        (r"^When condition .* not satisfied", "unknown-element", None),
        (r'^List instance is missing its key "(?P<element>[^"]*)"', "missing-element", None),
        (r'^Mandatory node "(?P<element>[^"]*)"', "data-missing", None),
        (r"^Mandatory choice", "data-missing", "missing-choice"),
        (r"^Invalid (leafref|instance-identifier) value", "data-missing", "instance-required"),
        (r"^Data for both cases", "bad-element", None),
        (r"^Unique data leaf\(s\)", "operation-failed", "data-not-unique"),
        (r"^Too many", "operation-failed", "too-many-elements"),
        (r"^Too few", "operation-failed", "too-few-elements"),
        (r"^Must condition", "operation-failed", "must-violation"),
        (r"^Duplicate instance", "operation-failed", None),
        (r"^(Invalid|Unsatisfied|Value .* out of)", "invalid-value", None),
        # a value of type xpath1.0 (or with prefixes, such as an identityref) that does not parse
        (r"^(Unexpected XPath|Failed to resolve prefix)", "invalid-value", None),
    )
)
# libyang's error location: 'Schema location "<path>"', '[Dd]ata location "<path>"' and
# 'line number <n>', comma-separated, ending with '.'. A data path may itself contain quotes.
_DATA_LOCATION = re.compile(r'[Dd]ata location "(?P<path>.*?)"(?:, line number \d+)?\.$')
_SCHEMA_LOCATION = re.compile(r'^Schema location "(?P<path>[^"]*)"')


class Schema:
    """The loaded module set and everything the server derives from it."""

    ctx: libyang.Context
    modules: tuple[ModuleInfo, ...]
    content_id: str
    key_index: Mapping[tuple[str, ...], tuple[str, ...]]  # list schema path -> its key leaves
    leaf_lists: frozenset[tuple[str, ...]]  # schema paths of the leaf-lists
    opaque: frozenset[tuple[str, ...]]  # schema paths of anydata/anyxml nodes: values, not trees to merge
    prefix_namespaces: Mapping[str, str]  # YANG prefix -> namespace, implemented modules
    access_defaults: Mapping[tuple[str, ...], str]  # schema path -> "all" | "write" (RFC 8341 default-deny-*)

    def __init__(self, ctx: libyang.Context, search_dirs: Sequence[Path]) -> None:
        self.ctx = ctx
        self._ly_modules = {(m.name(), c2str(m.cdata.revision)): m for m in ctx}
        self.modules = tuple(_module_info(m, search_dirs) for m in self._ly_modules.values())
        self.content_id = _content_id(self.modules)
        self._prefixes = {m.name: m.prefix for m in self.modules}
        self._namespaces = {m.name: m.namespace for m in self.modules}
        self._top_level = {m.name(): tuple(_top_level_nodes(m)) for m in ctx if m.implemented()}
        keys, self.leaf_lists, self.opaque = _data_tree_index(self._top_level.values())
        self.access_defaults = MappingProxyType(_access_defaults(m for m in ctx if m.implemented()))
        self.key_index = MappingProxyType(keys)
        implemented = [m for m in self.modules if m.implemented]
        self.prefix_namespaces = MappingProxyType({m.prefix: m.namespace for m in implemented})
        self._hello = _hello_capabilities(self.modules, self.content_id)
        self._yang_library = _yang_library(self.modules, self.content_id)
        self._modules_state = _modules_state(self.modules, self.content_id)
        self._schemas = _netconf_state_schemas(self.modules)

    @classmethod
    def load(cls, extra_dirs: Sequence[Path] = ()) -> Schema:
        """Load the module table plus every .yang file in yang/ and in `extra_dirs`."""
        module_dirs = [project_yang_dir(), *extra_dirs]
        search_dirs = [*module_dirs, *ietf_module_dirs()]
        search_path = ":".join(str(d) for d in search_dirs)
        _keep_error_locations()
        try:
            ctx = _Context(search_path, explicit_compile=True)
            for name, revision in _module_set(module_dirs):
                _load_module(ctx, name, revision, IMPLEMENTED_MODULES.get(name, ()))
            ctx.compile_schema()
        except libyang.LibyangError as exc:
            raise SchemaError(str(exc)) from exc
        _check_features(ctx)
        return cls(ctx, search_dirs)

    def hello_capabilities(self) -> list[str]:
        """The <capability> URIs of the server's <hello> (RFC 6241, RFC 7950 §5.6.4, RFC 8526 §2)."""
        return list(self._hello)

    def schema_text(self, identifier: str, version: str | None = None, fmt: str = "yang") -> str:
        """The module as <get-schema> (RFC 6022) returns it; KeyError when there is no such schema."""
        if fmt not in SCHEMA_FORMATS:
            raise KeyError(fmt)
        info = self._find_module(identifier, version)
        if fmt == "yang" and info.source_path is not None:
            return info.source_path.read_text(encoding="utf-8")
        return self._ly_modules[(info.name, info.revision)].print_mem(fmt)

    def yang_library(self) -> etree._Element:
        """RFC 8525 <yang-library>: one module set and schema, shared by running and operational."""
        return copy.deepcopy(self._yang_library)

    def modules_state(self) -> etree._Element:
        """The deprecated RFC 7895 <modules-state>, which older clients still read."""
        return copy.deepcopy(self._modules_state)

    def netconf_state_schemas(self) -> etree._Element:
        """RFC 6022 <schemas>: every module, in every format <get-schema> can return.

        <format> holds an unprefixed identityref ("yang"), which RFC 7950 §9.10.3 resolves through
        the default namespace. lxml drops namespace declarations that the new ancestors already
        make, so keep ietf-netconf-monitoring the default namespace of the parent
        (nsmap={None: NETCONF_MONITORING}) rather than a prefixed one.
        """
        return copy.deepcopy(self._schemas)

    def top_level_namespaces(self) -> set[str]:
        """Namespaces of the modules that define top-level data nodes."""
        return {self._namespaces[name] for name, nodes in self._top_level.items() if nodes}

    def validate_config(self, data: etree._Element) -> None:
        """Validate the children of `data` (<data> or <config>) as a complete running datastore.

        Strict: unknown elements and state data are errors; all constraints (mandatory, unique,
        must, leafref, ...) of all modules are checked. Raises ValidationError.
        """
        self._validate(data, config_only=True)

    def validate_operational(self, data: etree._Element, *, present_only: bool = False) -> None:
        """Validate the children of `data` as a complete operational datastore (state allowed);
        with ``present_only``, as the complete data of the modules they belong to (a part of
        the datastore, such as a get's reply to a filter)."""
        self._validate(data, config_only=False, present_only=present_only)

    def _validate(self, data: etree._Element, config_only: bool, present_only: bool = False) -> None:
        xml = b"".join(etree.tostring(c, with_tail=False) for c in data if isinstance(c.tag, str))
        try:
            tree = self.ctx.parse_data_mem(xml, "xml", no_state=config_only, strict=True,
                                           validate_present=present_only)
        except _LibyangFailure as exc:
            raise self._validation_error(exc, data) from None
        if tree is not None:
            tree.free()

    def _validation_error(self, failure: _LibyangFailure, data: etree._Element) -> ValidationError:
        error = failure.errors[0]
        tag, app_tag, found = _classify(error.message)
        path, path_namespaces = self._error_path(error.location)
        bad_namespace = found.get("namespace")
        bad_element = found.get("element")
        if bad_namespace is not None:
            bad_element = _first_local_name(data, bad_namespace)
        return ValidationError(
            tag,
            error.message,
            path,
            error.app_tag or app_tag,
            path_namespaces=path_namespaces,
            bad_element=bad_element,
            bad_namespace=bad_namespace,
        )

    def _error_path(self, location: str | None) -> tuple[str | None, dict[str, str]]:
        match = _DATA_LOCATION.search(location or "") or _SCHEMA_LOCATION.match(location or "")
        if match is None:
            return None, {}
        return _prefixed_path(match["path"], self._prefixes, self._namespaces)

    def _find_module(self, identifier: str, version: str | None) -> ModuleInfo:
        for info in self.modules:
            if info.name == identifier and version in (None, info.version):
                return info
        raise KeyError(identifier if version is None else f"{identifier}@{version}")


# ---- loading ------------------------------------------------------------------------------


def _keep_error_locations() -> None:
    """Make libyang record the data path of each error; store errors, print nothing.

    The binding's default (libyang.configure_logging(False)) stores errors without their path.
    These are process-wide libyang settings; calling libyang.configure_logging later undoes them.
    """
    lib.ly_log_options(lib.LY_LOSTORE)
    lib.ly_set_log_clb(ffi.NULL, True)


def _module_set(module_dirs: Sequence[Path]) -> Iterator[tuple[str, str | None]]:
    """(name, revision) of every module to implement: the table, then the files in module_dirs."""
    for name in IMPLEMENTED_MODULES:
        yield name, None
    for directory in module_dirs:
        for path in sorted(directory.glob("*.yang")):
            name, _, revision = path.stem.partition("@")  # RFC 7950 §5.2 file name
            yield name, revision or None


def _load_module(ctx: libyang.Context, name: str, revision: str | None, features: Sequence[str]) -> None:
    """Load a module as implemented with exactly `features` enabled.

    Module.feature_enable in the binding replaces the feature set on every call, so the whole
    set is handed to ly_ctx_load_module at once.
    """
    c_features = [ffi.new("char[]", f.encode()) for f in features]
    c_array = ffi.new("char *[]", [*c_features, ffi.NULL])
    c_revision = ffi.new("char[]", revision.encode()) if revision else ffi.NULL
    if not lib.ly_ctx_load_module(ctx.cdata, name.encode(), c_revision, c_array):
        raise ctx.error("cannot load module %s", name)


def _check_features(ctx: libyang.Context) -> None:
    """Fail loudly when a module's enabled features differ from the table."""
    for name, expected in IMPLEMENTED_MODULES.items():
        enabled = {f.name() for f in ctx.get_module(name).features() if f.state()}
        if enabled != set(expected):
            raise SchemaError(f"{name}: features {sorted(enabled)} enabled, expected {sorted(expected)}")


def _module_info(module: libyang.Module, search_dirs: Sequence[Path]) -> ModuleInfo:
    return ModuleInfo(
        name=module.name(),
        revision=c2str(module.cdata.revision),
        namespace=c2str(module.cdata.ns),
        prefix=module.prefix(),
        yang_version="1.1" if module.cdata.parsed.version == _LYS_VERSION_1_1 else "1.0",
        features=tuple(f.name() for f in module.features() if f.state()),
        implemented=module.implemented(),
        source_path=_source_path(module, search_dirs),
        deviations=tuple(sorted(c2str(m.name) for m in ly_array_iter(module.cdata.deviated_by))),
    )


def _source_path(module: libyang.Module, search_dirs: Sequence[Path]) -> Path | None:
    """The file the module came from; for libyang's built-in modules, a file of the same revision."""
    if module.filepath():
        return Path(module.filepath())
    name, revision = module.name(), c2str(module.cdata.revision)
    for directory in search_dirs:
        for candidate in (directory / f"{name}@{revision}.yang", directory / f"{name}.yang"):
            if candidate.is_file() and _newest_revision(candidate) == revision:
                return candidate
    return None


def _newest_revision(path: Path) -> str | None:
    """The first revision statement of a module file (RFC 8407 §4.8: newest first)."""
    text = path.read_text(encoding="utf-8")
    match = re.search(r'^\s*revision\s+"?(\d{4}-\d{2}-\d{2})', text, re.MULTILINE)
    return match[1] if match else None


def _content_id(modules: Sequence[ModuleInfo]) -> str:
    """A digest of what a client caches: which modules, revisions, features and deviations."""
    lines = sorted(
        f"{m.name}@{m.version} {'implement' if m.implemented else 'import'}"
        f" features={','.join(sorted(m.features))} deviations={','.join(m.deviations)}"
        for m in modules
    )
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


# ---- schema tree ----------------------------------------------------------------------------

_DATA_NODES = (libyang.SNode.CONTAINER, libyang.SNode.LIST, libyang.SNode.LEAF, libyang.SNode.LEAFLIST)
_OPAQUE_NODES = (libyang.SNode.ANYDATA, libyang.SNode.ANYXML)
_INDEXED_NODES = (libyang.SNode.CONTAINER, libyang.SNode.LIST, libyang.SNode.LEAFLIST, *_OPAQUE_NODES)


def _top_level_nodes(module: libyang.Module) -> Iterator[libyang.SNode]:
    """The module's own top-level data nodes (choices are looked through; no rpcs/notifications)."""
    return module.children(types=_DATA_NODES)


def _clark(node: libyang.SNode) -> str:
    return f"{{{c2str(node.cdata.module.ns)}}}{node.name()}"


def _data_tree_index(
    top_levels: Iterable[tuple[libyang.SNode, ...]],
) -> tuple[dict[tuple[str, ...], tuple[str, ...]], frozenset[tuple[str, ...]], frozenset[tuple[str, ...]]]:
    """Every list (schema path -> key leaves), every leaf-list and every anydata/anyxml node
    (schema paths) of the data tree.

    A schema path is the Clark names from the top-level node down to the node itself.
    """
    keys: dict[tuple[str, ...], tuple[str, ...]] = {}
    leaf_lists: set[tuple[str, ...]] = set()
    opaque: set[tuple[str, ...]] = set()

    def visit(node: libyang.SNode, parent: tuple[str, ...]) -> None:
        path = (*parent, _clark(node))
        if node.nodetype() == libyang.SNode.LEAFLIST:
            leaf_lists.add(path)
            return
        if node.nodetype() in _OPAQUE_NODES:
            opaque.add(path)
            return
        if node.nodetype() == libyang.SNode.LIST:
            keys[path] = tuple(_clark(key) for key in node.keys())
        for child in node.children(types=_INDEXED_NODES):
            visit(child, path)

    for nodes in top_levels:
        for node in nodes:
            if node.nodetype() in _INDEXED_NODES:
                visit(node, ())
    return keys, frozenset(leaf_lists), frozenset(opaque)


_ACCESS_DEFAULTS = {"default-deny-all": "all", "default-deny-write": "write"}
_ACCESS_NODES = (libyang.SNode.CONTAINER, libyang.SNode.LIST, libyang.SNode.LEAF, libyang.SNode.LEAFLIST,
                 *_OPAQUE_NODES)


def _access_defaults(modules: Iterable[libyang.Module]) -> dict[tuple[str, ...], str]:
    """Data nodes (schema paths), operations and notifications (their Clark name alone) that
    carry ietf-netconf-acm's default-deny-all or default-deny-write (RFC 8341 §3.5.1.2)."""
    found: dict[tuple[str, ...], str] = {}

    def marked(node: libyang.SNode) -> str | None:
        for extension in node.extensions():
            if extension.module().name() == "ietf-netconf-acm" and extension.name() in _ACCESS_DEFAULTS:
                return _ACCESS_DEFAULTS[extension.name()]
        return None

    def visit(node: libyang.SNode, parent: tuple[str, ...]) -> None:
        path = (*parent, _clark(node))
        if (default := marked(node)) is not None:
            found[path] = default
        if node.nodetype() in (libyang.SNode.CONTAINER, libyang.SNode.LIST):
            for child in node.children(types=_ACCESS_NODES):
                visit(child, path)

    for module in modules:
        for node in module.children(types=(*_ACCESS_NODES, libyang.SNode.RPC, libyang.SNode.NOTIF)):
            if node.nodetype() in (libyang.SNode.RPC, libyang.SNode.NOTIF):
                if (default := marked(node)) is not None:
                    found[(_clark(node),)] = default
            else:
                visit(node, ())
    return found


# ---- announcements --------------------------------------------------------------------------


def _hello_capabilities(modules: Sequence[ModuleInfo], content_id: str) -> tuple[str, ...]:
    """Protocol capabilities, one per implemented YANG 1.0 module, and the YANG library one.

    YANG 1.1 modules are announced only through the YANG library (RFC 7950 §5.6.4).
    """
    module_caps = [_module_capability(m) for m in modules if m.implemented and m.yang_version == "1.0"]
    library = f"{YANG_LIBRARY_CAPABILITY}?revision={YANG_LIBRARY_REVISION}&content-id={content_id}"
    return (*PROTOCOL_CAPABILITIES, *sorted(module_caps), library)


def _module_capability(module: ModuleInfo) -> str:
    """`<namespace>?module=<name>[&revision=..][&features=..][&deviations=..]` (RFC 6020 §5.6.4)."""
    uri = f"{module.namespace}?module={module.name}"
    if module.revision:
        uri += f"&revision={module.revision}"
    if module.features:
        uri += f"&features={','.join(module.features)}"
    if module.deviations:
        uri += f"&deviations={','.join(module.deviations)}"
    return uri


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    """A child in the parent's namespace."""
    child = etree.SubElement(parent, f"{{{etree.QName(parent).namespace}}}{tag}")
    child.text = text
    return child


def _yang_library(modules: Sequence[ModuleInfo], content_id: str) -> etree._Element:
    nsmap = {None: ns.YANG_LIBRARY, "ds": ns.DATASTORES}  # datastore names are ds: identities
    root = etree.Element(ns.qn(ns.YANG_LIBRARY, "yang-library"), nsmap=nsmap)
    module_set = _sub(root, "module-set")
    _sub(module_set, "name", MODULE_SET)
    for m in sorted((m for m in modules if m.implemented), key=lambda m: m.name):
        entry = _sub(module_set, "module")
        _sub(entry, "name", m.name)
        if m.revision:
            _sub(entry, "revision", m.revision)
        _sub(entry, "namespace", m.namespace)
        for feature in m.features:
            _sub(entry, "feature", feature)
        for deviation in m.deviations:
            _sub(entry, "deviation", deviation)
    for m in sorted((m for m in modules if not m.implemented), key=lambda m: (m.name, m.version)):
        entry = _sub(module_set, "import-only-module")
        _sub(entry, "name", m.name)
        _sub(entry, "revision", m.version)
        _sub(entry, "namespace", m.namespace)
    schema = _sub(root, "schema")
    _sub(schema, "name", MODULE_SET)
    _sub(schema, "module-set", MODULE_SET)
    for datastore in DATASTORES:
        entry = _sub(root, "datastore")
        _sub(entry, "name", f"ds:{datastore}")
        _sub(entry, "schema", MODULE_SET)
    _sub(root, "content-id", content_id)
    return root


def _modules_state(modules: Sequence[ModuleInfo], content_id: str) -> etree._Element:
    revisions = {m.name: m.version for m in modules if m.implemented}
    root = etree.Element(ns.qn(ns.YANG_LIBRARY, "modules-state"), nsmap={None: ns.YANG_LIBRARY})
    _sub(root, "module-set-id", content_id)
    for m in sorted(modules, key=lambda m: (m.name, m.version)):
        entry = _sub(root, "module")
        _sub(entry, "name", m.name)
        _sub(entry, "revision", m.version)
        _sub(entry, "namespace", m.namespace)
        for feature in m.features:
            _sub(entry, "feature", feature)
        for deviation in m.deviations:
            deviation_entry = _sub(entry, "deviation")
            _sub(deviation_entry, "name", deviation)
            _sub(deviation_entry, "revision", revisions[deviation])
        _sub(entry, "conformance-type", "implement" if m.implemented else "import")
    return root


def _netconf_state_schemas(modules: Sequence[ModuleInfo]) -> etree._Element:
    root = etree.Element(ns.qn(ns.NETCONF_MONITORING, "schemas"), nsmap={None: ns.NETCONF_MONITORING})
    for m in sorted(modules, key=lambda m: (m.name, m.version)):
        for fmt in SCHEMA_FORMATS:
            entry = _sub(root, "schema")
            _sub(entry, "identifier", m.name)
            _sub(entry, "version", m.version)
            _sub(entry, "format", fmt)
            _sub(entry, "namespace", m.namespace)
            _sub(entry, "location", "NETCONF")
    return root


# ---- validation errors ----------------------------------------------------------------------


def _classify(message: str) -> tuple[str, str | None, dict[str, str]]:
    """error-tag, error-app-tag and the named parts of a libyang validation message."""
    for pattern, tag, app_tag in _ERROR_RULES:
        match = pattern.match(message)
        if match:
            return tag, app_tag, {k: v for k, v in match.groupdict().items() if v is not None}
    return "operation-failed", None, {}


def _first_local_name(data: etree._Element, namespace: str) -> str | None:
    element = next(data.iter(f"{{{namespace}}}*"), None)
    return None if element is None else etree.QName(element).localname


def _predicates(text: str) -> list[str]:
    """The insides of the consecutive [..] predicates that follow a step's node name."""
    found, current, quote = [], "", ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "[":
            current = ""
            continue
        elif char == "]":
            found.append(current)
            continue
        current += char
    return found


def _prefixed_path(
    path: str, prefixes: Mapping[str, str], namespaces: Mapping[str, str]
) -> tuple[str, dict[str, str]]:
    """Rewrite libyang's path (module name on the first node of each module) XPath style.

    "/ietf-interfaces:interfaces/interface[name='2/0/7']/mtu" becomes
    "/if:interfaces/if:interface[if:name='2/0/7']/if:mtu", with {"if": <namespace>}.
    """
    used: dict[str, str] = {}

    def qualify(name: str, default_module: str) -> tuple[str, str]:
        module, _, local = name.rpartition(":")
        module = module or default_module
        used[prefixes[module]] = namespaces[module]
        return f"{prefixes[module]}:{local}", module

    module = ""
    steps = []
    for step in path_steps(path):
        head, bracket, rest = step.partition("[")
        node, module = qualify(head, module)
        predicates = []
        for predicate in _predicates(bracket + rest):
            key, equals, value = predicate.partition("=")
            if equals and key != ".":
                key = qualify(key, module)[0]
            predicates.append(f"[{key}{equals}{value}]")
        steps.append(node + "".join(predicates))
    return "/" + "/".join(steps), used
