from __future__ import annotations

import html as htmllib
import re

from apps.core.rendering import render_markdown, render_model_text, render_raw_text


def test_it_renders_markdown():
    assert render_markdown("**bold** and `code`") == (
        "<p><strong>bold</strong> and <code>code</code></p>\n"
    )


def test_it_drops_raw_html_and_scripts():
    html = render_markdown('<script>alert(1)</script><img src=x onerror="alert(1)">')

    assert "<script" not in html
    assert "<img" not in html
    assert "&lt;script&gt;" in html


def test_it_refuses_javascript_links():
    html = render_markdown("[click](javascript:alert(1))")

    assert html == "<p>[click](javascript:alert(1))</p>\n"  # left as text, not a link


def test_it_marks_links_as_untrusted():
    html = render_markdown("[docs](https://example.org)")

    assert html == (
        '<p><a href="https://example.org" target="_blank" rel="noopener noreferrer nofollow">'
        "docs</a></p>\n"
    )


def test_it_writes_a_chart_config_as_escaped_json_beside_its_canvas():
    from django.template import Context, Template

    config = {"type": "bar", "data": {"labels": ["</script><script>alert(1)</script>"]}}
    html = Template('{% load palate %}{% chart config label="Loss <curve>" size="sm" %}').render(
        Context({"config": config})
    )

    assert "<script>alert(1)" not in html
    assert "\\u003C/script\\u003E\\u003Cscript\\u003Ealert(1)" in html
    assert 'aria-label="Loss &lt;curve&gt;"' in html
    assert '<div class="chart chart-sm"><script id="chart-' in html
    assert 'type="application/json"' in html
    assert "data-chart-static" not in html


# --- model text: Markdown with raw-text offsets -------------------------------------


def _runs(html: str) -> list[tuple[int, str]]:
    """Each text run that carries an offset: (data-o, its text as shown)."""
    return [
        (int(offset), htmllib.unescape(text))
        for offset, text in re.findall(r'data-o="(\d+)">([^<]*)<', html)
    ]


def test_model_text_renders_lists_tables_and_fenced_code_with_offsets():
    raw = (
        "Use **this**:\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "```python\nx = 1\n```\n"
    )

    html = render_model_text(raw)

    assert html == (
        '<p><span data-o="0">Use </span><strong><span data-o="6">this</span></strong>'
        '<span data-o="12">:</span></p>\n'
        '<ul>\n<li><span data-o="17">one</span></li>\n'
        '<li><span data-o="23">two</span></li>\n</ul>\n'
        "<table>\n<thead>\n<tr>\n"
        '<th><span data-o="30">a</span></th>\n<th><span data-o="34">b</span></th>\n'
        "</tr>\n</thead>\n<tbody>\n<tr>\n"
        '<td><span data-o="50">1</span></td>\n<td><span data-o="54">2</span></td>\n'
        "</tr>\n</tbody>\n</table>\n"
        '<pre><code class="language-python" data-o="69">x = 1\n</code></pre>\n'
    )


def test_every_offset_points_at_the_same_text_in_the_raw_text():
    raw = (
        "🙂 **Bold** and `co de` with \\*escapes\\* &amp; entities, [a link](https://e.org/a(b))then"
        " more.\r\nNext *line*.\r\n\r\n```js\r\nlet a = 1;\r\n```\r\n\r\n"
        "    indented\r\n    code\r\n"
        "\n1. first\n2. second\n\n> quoted **text**\n"
    )

    runs = _runs(render_model_text(raw))

    assert [text for _, text in runs] == [
        "🙂 ", "Bold", " and ", "co de", " with ", "escapes", " ", " entities, ", "a link",
        "then more.", "Next ", "line", ".", "let a = 1;", "indented", "code", "first", "second",
        "quoted ", "text",
    ]  # fmt: skip
    assert all(raw[offset : offset + len(text)] == text for offset, text in runs)


def test_text_after_a_link_is_not_placed_inside_the_link_address():
    raw = "[docs](https://example.org/http)http"

    assert _runs(render_model_text(raw)) == [(1, "docs"), (32, "http")]


def test_model_text_never_lets_a_script_link_through():
    for payload in (
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](&#106;avascript:alert(1))",
        "[x](vbscript:msgbox(1))",
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "![x](javascript:alert(1))",
        "<a href='javascript:alert(1)'>x</a>",
    ):
        html = render_model_text(payload)
        assert "<a " not in html, payload
        assert 'href="' not in html, payload


def test_model_text_escapes_raw_html_and_event_handlers():
    html = render_model_text('<img src=x onerror="alert(1)"> <script>alert(1)</script>')

    assert html == (
        '<p><span data-o="0">&lt;img src=x onerror="alert(1)"&gt; '
        "&lt;script&gt;alert(1)&lt;/script&gt;</span></p>\n"
    )


def test_model_text_shows_entities_as_text_not_markup():
    html = render_model_text("&lt;script&gt;alert(1)&lt;/script&gt; &#60;b&#62;")

    assert "<script" not in html
    assert "<b>" not in html
    assert htmllib.unescape(re.sub(r"<[^>]+>", "", html)) == "<script>alert(1)</script> <b>\n"


def test_a_fenced_block_cannot_close_its_code_element():
    html = render_model_text("```html\n</code><script>alert(1)</script>\n```")

    assert html == (
        '<pre><code class="language-html" data-o="8">'
        "&lt;/code&gt;&lt;script&gt;alert(1)&lt;/script&gt;\n</code></pre>\n"
    )


def test_a_fence_language_cannot_add_attributes():
    html = render_model_text('```x" onmouseover="alert(1)\ncode\n```')

    assert html == '<pre><code class="language-x&quot;" data-o="28">code\n</code></pre>\n'


def test_model_text_links_open_apart_and_pass_no_referrer():
    html = render_model_text("[docs](https://example.org)")

    assert html == (
        '<p><a href="https://example.org" target="_blank" rel="noopener noreferrer nofollow">'
        '<span data-o="1">docs</span></a></p>\n'
    )


def test_raw_text_is_escaped_in_one_run_and_keeps_carriage_returns():
    assert render_raw_text("a <b>\r\nc") == '<span data-o="0">a &lt;b&gt;&#13;\nc</span>'
    assert render_raw_text("") == ""


def test_model_text_is_kept_in_the_shared_cache_for_other_processes():
    import hashlib

    from django.core.cache import cache

    from apps.core import rendering

    text = "Rendered **once**, read by every web process."
    html = render_model_text(text)
    key = f"model-text:{rendering._RENDER_VERSION}:{hashlib.sha256(text.encode()).hexdigest()}"

    assert cache.get(key) == str(html)
    cache.set(key, "<p>from the shared cache</p>")
    rendering._render_model_text_in_process.cache_clear()  # as in another process
    assert render_model_text(text) == "<p>from the shared cache</p>"
