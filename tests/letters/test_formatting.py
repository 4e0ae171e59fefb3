import pytest

from apps.letters.formatting import body_html


@pytest.mark.parametrize(
    ("body", "html"),
    [
        ("One.\nTwo.", "<p>One.<br>Two.</p>"),
        ("One.\n\nTwo.", "<p>One.</p>\n<p>Two.</p>"),
        ("# Plan\nRest.", "<h3>Plan</h3>\n<p>Rest.</p>"),
        ("- a\n- b", "<ul><li>a</li><li>b</li></ul>"),
        ("Intro\n- a\nAfter", "<p>Intro</p>\n<ul><li>a</li></ul>\n<p>After</p>"),
        ("<b>&</b>", "<p>&lt;b&gt;&amp;&lt;/b&gt;</p>"),
        ("# <i>x</i>", "<h3>&lt;i&gt;x&lt;/i&gt;</h3>"),
        ("- \"quoted\" 'x'", "<ul><li>&quot;quoted&quot; &#x27;x&#x27;</li></ul>"),
        ("", ""),
    ],
    ids=[
        "line-break",
        "paragraphs",
        "heading",
        "list",
        "list-between",
        "escape",
        "escape-heading",
        "escape-quotes",
        "empty",
    ],
)
def test_body_html(body, html):
    assert str(body_html(body)) == html
