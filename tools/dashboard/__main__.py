"""`python -m tools.dashboard [--port 8000]`: pumpdefs.json checked against the firmware, then the page served on
http://127.0.0.1:PORT/ until Ctrl-C (Web Bluetooth needs localhost or https; Chrome or Edge). Port 0: any free one."""

import argparse
import functools
import http.server
import sys

from tools.dashboard import webdefs


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.dashboard", description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=8000)
    args = ap.parse_args(argv)
    if webdefs.main(["--check"]):
        return 1
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=webdefs.WEB)
    try:
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    except OSError as e:
        print("dashboard: --port %d: cannot serve on it (%s): give another (--port N, 0: any free one)" % (
            args.port, e.strerror), file=sys.stderr)
        return 2
    with httpd:
        try:  # Ctrl-C at any point from here (even while the line below prints) is the documented way to stop
            print("dashboard on http://127.0.0.1:%d/ (Ctrl-C to stop)" % httpd.server_address[1], flush=True)
            httpd.serve_forever()
        except KeyboardInterrupt:
            print("dashboard stopped")
    return 0


if __name__ == "__main__":
    from tools import cli

    sys.exit(cli(main, "tools.dashboard"))
