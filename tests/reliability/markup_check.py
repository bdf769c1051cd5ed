"""Does a rendered page show untrusted text only as text? A check over the page as a browser parses it.

html5lib builds the tree the WHATWG parsing rules give (what Chromium builds too). Every element, attribute and
URL in it must be one the templates write; a marker of the XSS corpus (`fbx0001`…) may only sit in text or in
an attribute that holds text (a value, a title, a confirmation message) or an http(s) link. Anything else means a
payload became markup, and the problem names the payload.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from xml.etree.ElementTree import Comment, Element

import html5lib

from tests.reliability.xss_corpus import markers_in

SVG = "{http://www.w3.org/2000/svg}"
HTML_TAGS = frozenset(
    [
        "html",
        "head",
        "meta",
        "title",
        "link",
        "script",
        "body",
        "a",
        "header",
        "nav",
        "ul",
        "li",
        "details",
        "summary",
        "strong",
        "small",
        "span",
        "main",
        "div",
        "form",
        "input",
        "button",
        "label",
        "select",
        "option",
        "optgroup",
        "textarea",
        "h1",
        "h2",
        "h3",
        "hgroup",
        "p",
        "ol",
        "section",
        "output",
        "dl",
        "dt",
        "dd",
        "kbd",
        "article",
        "footer",
        "table",
        "caption",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "time",
        "bdi",
        "q",
        "br",
        "figure",
        "figcaption",
        "progress",
        "aside",
        "fieldset",
        "legend",
        "img",
    ]
)
SVG_TAGS = frozenset(
    f"{SVG}{tag}" for tag in ["svg", "title", "line", "text", "polygon", "polyline", "circle", "rect"]
)
KNOWN_TAGS = HTML_TAGS | SVG_TAGS | {"DOCUMENT_FRAGMENT"}
ATTRIBUTES = frozenset(
    [
        "accept",
        "action",
        "alt",
        "aria-controls",
        "aria-current",
        "aria-describedby",
        "aria-hidden",
        "aria-invalid",
        "aria-label",
        "aria-labelledby",
        "aria-live",
        "autocomplete",
        "autofocus",
        "charset",
        "checked",
        "class",
        "content",
        "cx",
        "cy",
        "datetime",
        "defer",
        "dir",
        "disabled",
        "dominant-baseline",
        "download",
        "enctype",
        "fill",
        "for",
        "form",
        "formaction",
        "height",
        "hidden",
        "href",
        "id",
        "lang",
        "loading",
        "max",
        "label",
        "maxlength",
        "method",
        "min",
        "minlength",
        "multiple",
        "name",
        "novalidate",
        "open",
        "placeholder",
        "points",
        "r",
        "referrerpolicy",
        "rel",
        "required",
        "role",
        "rows",
        "cols",
        "rx",
        "scope",
        "selected",
        "spellcheck",
        "src",
        "step",
        "tabindex",
        "target",
        "text-anchor",
        "title",
        "type",
        "value",
        "viewBox",
        "width",
        "x",
        "x1",
        "x2",
        "xmlns",
        "y",
        "y1",
        "y2",
        "hx-confirm",
        "hx-disabled-elt",
        "hx-disable",
        "hx-get",
        "hx-headers",
        "hx-post",
        "hx-push-url",
        "hx-swap",
        "hx-swap-oob",
        "hx-sync",
        "hx-target",
        "hx-trigger",
    ]
)
DATA_OR_ARIA = re.compile(r"(?:data|aria)-[a-z][a-z-]*")
# Attributes whose value is text for people (a marker there is escaped text, as it should be).
TEXT_ATTRIBUTES = frozenset(
    {"value", "title", "aria-label", "placeholder", "alt", "data-confirm", "hx-confirm"}
)
URL_ATTRIBUTES = frozenset(
    {"href", "src", "action", "formaction", "hx-get", "hx-post", "xlink:href", "srcset", "poster", "data"}
)
SAFE_URL = re.compile(r"(?:https?://|/(?![/\\])|\?|#|$)", re.IGNORECASE)
URL_NOISE = re.compile(r"[\x00-\x20\x7f]+")
META_NAMES = frozenset({"viewport", "htmx-config"})
STATIC = "/static/"


@dataclass
class Report:
    """What one page showed: problems (payload turned markup) and the markers seen as text."""

    problems: list[str] = field(default_factory=list)
    text_markers: set[str] = field(default_factory=set)

    def add(self, problem: str) -> None:
        self.problems.append(problem)


def check_page(html: str, *, container: str | None = None) -> Report:
    """Parse a whole page (or, with `container`, an htmx partial as that element's content) and check it."""
    if container is None:
        root = html5lib.parse(html, namespaceHTMLElements=False)
    else:
        root = html5lib.parseFragment(html, container=container, namespaceHTMLElements=False)
    report = Report()
    for element, inside_head in _walk(root, inside_head=False):
        _check_element(element, inside_head, report)
        for text in (element.text, element.tail):
            if text:
                report.text_markers |= markers_in(text)
    return report


def _walk(element: Element, *, inside_head: bool) -> Iterator[tuple[Element, bool]]:
    yield element, inside_head
    for child in element:
        yield from _walk(child, inside_head=inside_head or element.tag == "head")


def _name(attribute: str) -> str:
    return attribute.replace("{http://www.w3.org/1999/xlink}", "xlink:").replace(
        "{http://www.w3.org/XML/1998/namespace}", "xml:"
    )


def _where(element: Element) -> str:
    markers = markers_in(" ".join([str(element.tag), *map(str, element.attrib.items()), element.text or ""]))
    named = f" (payload {', '.join(sorted(markers))})" if markers else ""
    attributes = " ".join(f'{_name(k)}="{v[:60]}"' for k, v in element.attrib.items())
    return f"<{str(element.tag).replace(SVG, 'svg:')} {attributes}>{named}"


def _check_element(element: Element, inside_head: bool, report: Report) -> None:
    tag = element.tag
    if tag is Comment:
        report.add(f"a comment appeared in the page: <!--{(element.text or '')[:80]}-->")
        return
    if tag not in KNOWN_TAGS:
        report.add(f"unexpected element {_where(element)}")
    for raw_name, value in element.attrib.items():
        _check_attribute(element, _name(raw_name), value, report)
    if tag == "script":
        if (element.text or "").strip() or not element.get("src", "").startswith(STATIC):
            report.add(f"a script that is not one of our static files: {_where(element)}")
    elif tag == "meta":
        if (
            element.get("http-equiv") is not None
            or not inside_head
            or ("charset" not in element.attrib and element.get("name") not in META_NAMES)
        ):
            report.add(f"unexpected meta element {_where(element)}")
        if element.get("name") == "htmx-config":
            config = json.loads(element.get("content", "{}"))
            if config.get("allowEval") is not False or config.get("allowScriptTags") is not False:
                report.add(f"the htmx configuration was changed: {_where(element)}")
    elif tag == "link" and (element.get("rel") not in ("stylesheet", "icon") or not inside_head):
        report.add(f"unexpected link element {_where(element)}")


def _check_attribute(element: Element, name: str, value: str, report: Report) -> None:
    if name not in ATTRIBUTES and not DATA_OR_ARIA.fullmatch(name):
        report.add(f"unexpected attribute {name!r} on {_where(element)}")
        return
    if name.startswith(("data-hx-", "hx-on")):
        report.add(f"an htmx attribute from text: {name} on {_where(element)}")
    if name in URL_ATTRIBUTES:
        cleaned = URL_NOISE.sub("", value)
        is_icon = (
            element.tag == "link" and element.get("rel") == "icon" and value.startswith("data:image/svg+xml,")
        )
        if not SAFE_URL.match(cleaned) and not is_icon:
            report.add(f"unsafe URL in {name}: {value[:80]!r} on {_where(element)}")
    if name == "hx-headers" and set(json.loads(value)) != {"X-CSRFToken"}:
        report.add(f"the htmx headers were changed: {value[:80]!r}")
    markers = markers_in(value)
    if not markers:
        return
    if name in TEXT_ATTRIBUTES or (
        (name in ("href", "src") and SAFE_URL.match(URL_NOISE.sub("", value)))
        or (name in ("hx-get", "hx-post") and value.startswith("?"))
    ):
        report.text_markers |= markers
    else:
        report.add(f"payload text in the {name} attribute of {_where(element)}")
