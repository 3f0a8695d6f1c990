"""The pump's event history exported for an audit: decoded to names in CSV, or signed as JSON with an HMAC-SHA256
under the clinician key, and a signed export verified.

Signed export (JSON): {"format": "pump-history", "version": 1, "source": where the records came from,
"exported_utc": when, "records": [[seq, t_s, code, a, b], ...] oldest first, "hmac_sha256": 64 hex digits}. The
HMAC covers every other key, serialised as json.dumps(sort_keys=True, separators=(",", ":")) in UTF-8: a row
changed, reordered, added or removed, any other field edited, or a different key, and it no longer verifies.
"""

import csv
import datetime
import hashlib
import hmac
import json

from tools.programmer.report import InputError, load_json
from tools.pumplink.history import COLUMNS, check_records, rows

FORMAT = "pump-history"
VERSION = 1
_MAC_KEY = "hmac_sha256"


def load_records(path):
    """(records, source text) from a simulation result (`history`) or a history export (`records`)."""
    doc = load_json(path, "history", ": a truncated or damaged file")
    if not isinstance(doc, dict) or not ("history" in doc or "records" in doc):
        raise InputError("%s: neither a simulation result (`history`) nor a history export (`records`)" % path)
    key = "records" if "records" in doc else "history"
    try:
        return check_records(doc[key], "%s: %s" % (path, key)), doc
    except ValueError as e:
        raise InputError(str(e)) from e


def write_csv(path, records):
    try:
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, COLUMNS)
            w.writeheader()
            w.writerows(rows(records))
    except OSError as e:
        raise InputError("%s: cannot write (%s)" % (path, e.strerror)) from e


def _mac(key, doc):
    body = {k: v for k, v in doc.items() if k != _MAC_KEY}
    text = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key, text, hashlib.sha256).hexdigest()


def signed(records, source, key, now=None):
    """The signed export document of `records`."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    doc = {"format": FORMAT, "version": VERSION, "source": source,
           "exported_utc": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "records": [list(r) for r in records]}
    doc[_MAC_KEY] = _mac(key, doc)
    return doc


def write_signed(path, records, source, key):
    try:
        with open(path, "w") as f:
            json.dump(signed(records, source, key), f, indent=1)
            f.write("\n")
    except OSError as e:
        raise InputError("%s: cannot write (%s)" % (path, e.strerror)) from e


def verify(path, key):
    """The one-line verdict on a signed export; InputError (exit 2) when it does not verify."""
    records, doc = load_records(path)
    if doc.get("format") != FORMAT or doc.get("version") != VERSION:
        raise InputError("%s: format: not a signed %s export version %d" % (path, FORMAT, VERSION))
    mac = doc.get(_MAC_KEY)
    if not isinstance(mac, str):
        raise InputError("%s: %s: missing: the export is not signed" % (path, _MAC_KEY))
    if not hmac.compare_digest(mac, _mac(key, doc)):
        raise InputError("%s: %s: does not match: the file was changed after it was signed, or signed with "
                         "another clinician key" % (path, _MAC_KEY))
    first = "seq %d..%d" % (records[0][0], records[-1][0]) if records else "no records"
    return "%s: valid: %d records (%s) from %s, exported %s, signed with this clinician key" % (
        path, len(records), first, doc.get("source"), doc.get("exported_utc"))
