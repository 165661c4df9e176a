"""A sample Alertmanager webhook receiver: prints each notification it gets.

Used by docker-compose.yml (service ``alert-webhook``) so that the demo shows
where notifications go: ``docker compose logs -f alert-webhook``. Standard
library only; listens on port 5001 (``WEBHOOK_PORT``).
"""

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            note = json.loads(body)
        except ValueError:
            print(f"{self.path}: unreadable body {body[:200]!r}", flush=True)
        else:
            for alert in note.get("alerts", []):
                labels = alert.get("labels", {})
                print(
                    f"{self.path} {alert.get('status', '?'):8} {labels.get('severity', '?'):8}"
                    f" {labels.get('alertname', '?')} model={labels.get('model', '-')}"
                    f" :: {alert.get('annotations', {}).get('summary', '')}",
                    flush=True,
                )
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # quiet access log
        pass


if __name__ == "__main__":
    port = int(os.environ.get("WEBHOOK_PORT", "5001"))
    print(f"alert webhook listening on :{port}", flush=True)
    ThreadingHTTPServer(("", port), Handler).serve_forever()
