"""Our templates are compiled once per process and kept compiled in the cache,
keyed by everything the compiler reads."""

from __future__ import annotations

import jinja2
import pytest

from pelican_reciprocity import templates
from pelican_reciprocity.templates import CompilingOnceLoader

SOURCE = "{% for x in items %}<b>{{ x|upper }}</b>{% endfor %}\n{{ '<i>' }}"


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setattr(templates, "_CODE", {})  # nothing from other tests
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "page.html").write_text(SOURCE, encoding="utf-8")
    return tmp_path


def environment(folder, cache=True, **settings):
    env = jinja2.Environment(
        loader=CompilingOnceLoader(folder / "t", folder / "cache" if cache else None), **settings
    )
    compiled = []
    real = env.compile

    def counting(*args, **kwargs):
        compiled.append(args[1] if len(args) > 1 else kwargs.get("name"))
        return real(*args, **kwargs)

    env.compile = counting
    return env, compiled


def render(env):
    return env.get_template("page.html").render(items=["a", "b"])


def test_a_template_is_compiled_once_per_process_and_once_per_cache(folder, monkeypatch):
    first, compiled = environment(folder)
    expected = render(first)
    assert expected == "<b>A</b><b>B</b>\n<i>" and compiled == ["page.html"]
    second, compiled = environment(folder)  # the next build of the same process
    assert render(second) == expected and compiled == []
    monkeypatch.setattr(templates, "_CODE", {})  # the next process: from the cache folder
    third, compiled = environment(folder)
    assert render(third) == expected and compiled == []
    fourth, compiled = environment(folder, cache=False)
    monkeypatch.setattr(templates, "_CODE", {})
    assert render(fourth) == expected and compiled == ["page.html"]


def test_what_changes_the_compiled_code_gets_its_own_entry(folder):
    render(environment(folder)[0])
    escaping, compiled = environment(folder, autoescape=True)
    assert render(escaping).endswith("&lt;i&gt;") and compiled == ["page.html"]
    trimmed, compiled = environment(folder, trim_blocks=True)
    render(trimmed)
    assert compiled == ["page.html"]
    filtered, compiled = environment(folder)
    filtered.filters["upper"] = jinja2.pass_context(lambda context, value: value * 2)
    assert render(filtered) == "<b>aa</b><b>bb</b>\n<i>" and compiled == ["page.html"]
    (folder / "t" / "page.html").write_text(SOURCE + "!", encoding="utf-8")
    edited, compiled = environment(folder)
    assert render(edited).endswith("!") and compiled == ["page.html"]


def test_a_finalize_hook_is_never_cached(folder):
    for _ in range(2):
        env, compiled = environment(folder, finalize=lambda value: f"[{value}]")
        assert render(env) == "<b>[A]</b><b>[B]</b>\n[<i>]" and compiled == ["page.html"]


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty"])
def test_a_damaged_compiled_template_is_compiled_again(folder, monkeypatch, damage):
    expected = render(environment(folder)[0])
    (kept,) = (folder / "cache" / "templates").iterdir()
    data = kept.read_bytes()
    kept.write_bytes(
        {
            "truncate": data[: len(data) - 20],
            "flip": data[:-10] + bytes([data[-10] ^ 0xFF]) + data[-9:],
            "garbage": data[:120] + b"\x00" * (len(data) - 120),
            "empty": b"",
        }[damage]
    )
    monkeypatch.setattr(templates, "_CODE", {})
    env, compiled = environment(folder)
    assert render(env) == expected and compiled == ["page.html"]
    assert kept.read_bytes() == data  # and kept again, whole


def test_a_theme_template_for_our_pages_is_compiled_once(folder):
    """The theme's page.html, loaded through the theme's own loader (a
    ChoiceLoader, as Pelican makes), is kept compiled like our templates."""
    (folder / "theme").mkdir()
    (folder / "theme" / "page.html").write_text("{{ page }}!", encoding="utf-8")

    def theme_environment():
        env = jinja2.Environment(loader=jinja2.ChoiceLoader([
            jinja2.FileSystemLoader(str(folder / "theme")),
        ]))  # fmt: skip
        compiled, real = [], env.compile
        env.compile = lambda *args, **kwargs: compiled.append(args[1]) or real(*args, **kwargs)
        return env, compiled

    first, compiled = theme_environment()
    page = templates.load_once(first, ["page.htm", "page.html"], folder / "cache")
    assert page.render(page="x") == "x!" and compiled == ["page.html"]
    second, compiled = theme_environment()  # the next build
    page = templates.load_once(second, ["page.html"], folder / "cache")
    assert page.render(page="y") == "y!" and compiled == []
    assert templates.load_once(second, ["nothing.html"], folder / "cache") is None
