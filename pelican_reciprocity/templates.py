"""The loader of the plugin's own templates, which compiles each one once.

Pelican makes new Jinja environments for every build, and Jinja compiles a
template again in each: for our section and page templates that cost more
than rendering them (about 20 ms a build). This loader keeps the compiled
code in memory for the process (``pelican --autoreload``) and in the cache
folder for the next one. The code is keyed by the template's source and by
every setting of the environment the compiler reads, so a theme, a Jinja
extension or a filter that changes what a template compiles to gets its own
entry; an environment with a ``finalize`` hook, which is baked into the code,
is never cached. A damaged file is compiled again, never fatal. The cache
folder is trusted as the site's own files are: Jinja's own bytecode cache
makes the same assumption, and whoever can write there can edit the site's
settings file too.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import marshal
import os
import sys
from pathlib import Path
from types import CodeType
from typing import Any

import jinja2
import jinja2.compiler
from jinja2 import FileSystemLoader

from .files import digest_of, write_atomic

logger = logging.getLogger(__name__)

FORMAT = b"pelican-reciprocity/template-code/1\n"

#: The environment's settings the compiler reads (besides filters, tests,
#: extensions and autoescape, keyed separately).
COMPILER_SETTINGS = (
    "block_start_string", "block_end_string", "variable_start_string", "variable_end_string",
    "comment_start_string", "comment_end_string", "line_statement_prefix",
    "line_comment_prefix", "trim_blocks", "lstrip_blocks", "newline_sequence",
    "keep_trailing_newline", "optimized", "is_async", "sandboxed", "newstyle_gettext",
)  # fmt: skip

#: Compiled code by key, for every environment of this process.
_CODE: dict[str, CodeType] = {}


class CompilingOnceLoader(FileSystemLoader):
    """A FileSystemLoader whose compiled templates outlive their environment."""

    def __init__(self, searchpath: str | Path, cache: Path | None = None) -> None:
        super().__init__(str(searchpath))
        self.cache = cache

    def load(
        self, environment: jinja2.Environment, name: str, globals: Any = None
    ) -> jinja2.Template:
        source, filename, uptodate = self.get_source(environment, name)
        code = compiled(environment, name, filename, source, self.cache)
        globals = {} if globals is None else globals  # as Jinja's own loaders do
        return environment.template_class.from_code(environment, code, globals, uptodate)


def load_once(
    environment: jinja2.Environment, names: list[str], cache: Path | None
) -> jinja2.Template | None:
    """The first of ``names`` the environment's loader has (a theme's
    ``page.html``), compiled once as our own templates are. For a page the
    plugin adds: the environment's other templates are left to Pelican.
    None when there is none of them."""
    loader = environment.loader
    for name in names if loader is not None else ():
        try:
            source, filename, uptodate = loader.get_source(environment, name)
        except jinja2.TemplateNotFound:
            continue
        code = compiled(environment, name, filename, source, cache)
        return environment.template_class.from_code(
            environment, code, environment.make_globals(None), uptodate
        )
    return None


def compiled(
    environment: jinja2.Environment,
    name: str,
    filename: str | None,
    source: str,
    cache: Path | None,
) -> CodeType:
    """The template's code: from memory, from the cache folder, or compiled
    now (and kept in both)."""
    key = code_key(environment, name, filename, source)
    code = (_CODE.get(key) or _read(cache, key)) if key else None
    if code is None:
        code = environment.compile(source, name, filename)
        if key:
            _write(cache, key, code)
    if key:
        _CODE[key] = code
    return code


def _path(cache: Path | None, key: str) -> Path | None:
    return cache / "templates" / f"{key[:32]}.code" if cache else None


def _read(cache: Path | None, key: str) -> CodeType | None:
    path = _path(cache, key)
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError:
        return None
    header = _header(key)
    digest, _, body = data[len(header) :].partition(b"\n")
    if not data.startswith(header) or hashlib.sha256(body).hexdigest().encode() != digest:
        return None  # another version, or damaged: checked before marshal reads it
    try:
        code = marshal.loads(body)
    except (EOFError, ValueError, TypeError):
        return None
    return code if isinstance(code, CodeType) else None


def _write(cache: Path | None, key: str, code: CodeType) -> None:
    path = _path(cache, key)
    if path is None:
        return
    body = marshal.dumps(code)
    digest = hashlib.sha256(body).hexdigest().encode()
    data = _header(key) + digest + b"\n" + body
    try:
        write_atomic(path, data, durable=False)
    except OSError as exc:  # the next build compiles it again
        logger.debug("reciprocity: cannot keep compiled template %s (%s)", path, exc)


def _header(key: str) -> bytes:
    """What a kept file starts with: this format and the whole key (the file
    name holds only part of it); the body's SHA-256 and the body follow."""
    return FORMAT + key.encode("ascii") + b"\n"


def code_key(environment: jinja2.Environment, name: str, filename: str | None, source: str) -> str:
    """What the compiled code of ``source`` depends on, as one digest; "" when
    it cannot be known (a ``finalize`` hook, whose results are compiled in)."""
    if environment.finalize is not None:
        return ""
    autoescape = environment.autoescape
    parts = (
        FORMAT,
        _installed(jinja2.compiler.__file__),  # another Jinja may compile differently
        sys.version,
        importlib.util.MAGIC_NUMBER,
        name,
        filename,
        source,
        autoescape(name) if callable(autoescape) else autoescape,
        *(getattr(environment, setting, None) for setting in COMPILER_SETTINGS),
        _name_of(environment.code_generator_class),
        sorted(environment.extensions),
        sorted(
            (n, repr(getattr(f, "jinja_pass_arg", None))) for n, f in environment.filters.items()
        ),
        sorted((n, repr(getattr(t, "jinja_pass_arg", None))) for n, t in environment.tests.items()),
        sorted(getattr(environment, "intercepted_binops", ()) or ()),
        sorted(getattr(environment, "intercepted_unops", ()) or ()),
    )
    return digest_of(parts)


def _installed(path: str) -> tuple[str, int, int]:
    try:
        stat = os.stat(path)
    except OSError:
        return (path, 0, 0)
    return (path, stat.st_size, stat.st_mtime_ns)


def _name_of(thing: Any) -> str:
    return f"{getattr(thing, '__module__', '')}.{getattr(thing, '__qualname__', repr(thing))}"
