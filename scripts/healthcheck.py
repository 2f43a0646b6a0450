"""Docker HEALTHCHECK: exit 0 when /healthz answers 200 on this container's gunicorn port."""

import os
import sys
import urllib.request

port = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000").split(",")[0].rsplit(":", 1)[-1]
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=4) as response:
        sys.exit(0 if response.status == 200 else 1)
except OSError as exc:
    print(f"healthz: {exc}", file=sys.stderr)
    sys.exit(1)
