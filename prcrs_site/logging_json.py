"""One JSON object per log line, for log collectors reading the containers' stdout.

Fields passed with ``extra={...}`` become top-level keys, so a structured record (e.g. a
prediction-log entry the database could not take) survives intact. gunicorn's access log is
recognised and its atoms become named fields (method, path, status, duration_ms, ...).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "taskName"}

# gunicorn access-log atoms worth keeping, by the name they get in the JSON line.
_ACCESS_FIELDS = {"remote": "h", "method": "m", "path": "U", "query": "q", "protocol": "H",
                  "status": "s", "bytes": "B", "referer": "f", "user_agent": "a"}


def _jsonable(value: object) -> object:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc)
            .isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
        }
        if record.name == "gunicorn.access" and isinstance(record.args, dict):
            entry.update(self._access_fields(record.args))
            entry["message"] = "request"
        else:
            entry["message"] = record.getMessage()
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry:
                entry[key] = _jsonable(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)

    @staticmethod
    def _access_fields(atoms: dict) -> dict[str, object]:
        fields: dict[str, object] = {}
        for name, atom in _ACCESS_FIELDS.items():
            value = atoms.get(atom)
            if value not in (None, "-", ""):
                fields[name] = value
        for name in ("status", "bytes"):
            if isinstance(fields.get(name), str) and str(fields[name]).isdigit():
                fields[name] = int(fields[name])  # type: ignore[arg-type]
        # "L" is the request time in seconds as a decimal string (gunicorn's own measure).
        try:
            fields["duration_ms"] = round(float(atoms["L"]) * 1000.0, 3)
        except (KeyError, TypeError, ValueError):
            pass
        return fields
