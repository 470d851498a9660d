"""``checkerscope explore``: write the interactive overlap explorer and open it.

The page is one self-contained HTML file (no network). By default it is written to
``./checkerscope-explorer.html`` and opened in the default browser; ``--no-browser`` only
prints the path, and ``--serve`` serves it over HTTP on 127.0.0.1 (never on all
interfaces) until Ctrl-C.
"""

from __future__ import annotations

import argparse
import http.server
import sys
import threading
import webbrowser
from pathlib import Path
from typing import Any

from checkerscope._files import display_name
from checkerscope.cli._common import (
    OutputPath,
    check_outputs,
    is_checkerscope_html,
    print_json,
    write_atomic,
)
from checkerscope.errors import CheckerscopeError

DEFAULT_OUT = "checkerscope-explorer.html"
HOST = "127.0.0.1"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "explore",
        help="write the interactive overlap explorer (HTML) and open it",
        description=(
            "Write the interactive overlap explorer, a self-contained HTML page that works "
            "offline, and open it in a browser."
        ),
    )
    p.add_argument(
        "--out",
        metavar="FILE",
        default=DEFAULT_OUT,
        help=f"where to write the page (default: ./{DEFAULT_OUT})",
    )
    p.add_argument(
        "--no-browser", action="store_true", help="do not open a browser; just print the path"
    )
    p.add_argument(
        "--serve",
        action="store_true",
        help=f"serve the page over HTTP on {HOST} only, until Ctrl-C",
    )
    p.add_argument(
        "--port", type=int, default=8000, metavar="P", help="port for --serve (0: any free port)"
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


class _PageHandler(http.server.BaseHTTPRequestHandler):
    """Serves one page at ``/`` (and ``/index.html``); everything else is 404."""

    page: bytes = b""

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] not in ("/", "/index.html"):
            self.send_error(404, "only / is served")
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.page)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(self.page)

    def do_HEAD(self) -> None:
        self.send_response(200 if self.path in ("/", "/index.html") else 404)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def make_server(page: str, port: int = 0) -> http.server.ThreadingHTTPServer:
    """An HTTP server for ``page`` bound to 127.0.0.1 only (``port=0``: any free port).

    Examples:
        >>> server = make_server("<p>hi</p>")
        >>> server.server_address[0]
        '127.0.0.1'
        >>> server.server_close()
    """
    if not 0 <= port <= 65535:
        raise CheckerscopeError(f"--port must be between 0 and 65535, got {port}")
    handler = type("PageHandler", (_PageHandler,), {"page": page.encode("utf-8")})
    try:
        return http.server.ThreadingHTTPServer((HOST, port), handler)
    except OSError as exc:
        raise CheckerscopeError(f"cannot serve on {HOST}:{port}: {exc.strerror or exc}") from exc


def run(args: argparse.Namespace) -> int:
    from checkerscope.report.explorer import explorer_html

    out = Path(args.out).expanduser()
    if out.is_dir():
        out = out / DEFAULT_OUT
    check_outputs([OutputPath("--out", out, "page", is_checkerscope_html)], force=args.force)
    page = explorer_html()
    write_atomic(out, page)
    out = out.resolve()
    result: dict[str, Any] = {"path": str(out), "uri": out.as_uri(), "bytes": len(page.encode())}

    if not args.serve:
        if args.json:
            print_json(result)
        else:
            print(display_name(out))
        if not args.no_browser:
            webbrowser.open(out.as_uri())
        return 0

    server = make_server(page, args.port)
    url = f"http://{HOST}:{server.server_address[1]}/"
    result["url"] = url
    if args.json:
        print_json(result)
    else:
        print(f"{display_name(out)}\nserving {url} (Ctrl-C to stop)")
    sys.stdout.flush()
    if not args.no_browser:
        threading.Timer(0.3, webbrowser.open, args=(url,)).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
