from __future__ import annotations

from apps.core.rendering import render_markdown


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
        '<p><a href="https://example.org" rel="noopener noreferrer nofollow">docs</a></p>\n'
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
