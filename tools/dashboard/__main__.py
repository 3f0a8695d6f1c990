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
    with http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler) as httpd:
        print("dashboard on http://127.0.0.1:%d/ (Ctrl-C to stop)" % httpd.server_address[1], flush=True)
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
