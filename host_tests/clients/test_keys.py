"""tools.keys: a new keys file is private, random and never printed; bad files are refused naming the field; a monitor
key added to an older file, and exported alone for the dashboard."""

import json
import os
import stat

import pytest

from tools.keys import keys


def test_make_keys_writes_a_private_file_and_prints_no_key(tmp_path, capsys):
    path = str(tmp_path / "keys.json")
    os.umask(0o022)
    assert keys.main(["--out", path]) == 0
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path) as f:
        doc = json.load(f)
    assert sorted(doc) == ["clinician", "monitor", "patient"]
    loaded = keys.load(path)
    assert loaded["clinician"].hex() == doc["clinician"] and len(loaded["patient"]) == 32
    assert loaded["monitor"].hex() == doc["monitor"]
    out = capsys.readouterr()
    for v in doc.values():
        assert v not in out.out and v not in out.err


def test_each_file_gets_fresh_keys(tmp_path):
    a, b = keys.load(keys.create(str(tmp_path / "a.json"))), keys.load(keys.create(str(tmp_path / "b.json")))
    assert len(set(a.values()) | set(b.values())) == 6


def test_an_existing_keys_file_is_never_overwritten(tmp_path, capsys):
    path = str(tmp_path / "keys.json")
    keys.create(path)
    before = open(path).read()
    assert keys.main(["--out", path]) == 1
    assert "already exists" in capsys.readouterr().err
    assert open(path).read() == before


def _write(path, doc, mode=0o600):
    with open(path, "w") as f:
        f.write(doc if isinstance(doc, str) else json.dumps(doc))
    os.chmod(path, mode)


@pytest.mark.parametrize("doc, mode, message", [
    ({"clinician": "ab" * 32, "patient": "cd" * 32}, 0o644, "readable by others (mode 644); run: chmod 600"),
    ({"clinician": "ab" * 32, "patient": "cd" * 32}, 0o640, "readable by others (mode 640)"),
    ("{", 0o600, "not valid JSON"),
    ([], 0o600, "must be an object"),
    ({"clinician": "ab" * 32}, 0o600, "keys.patient: must be 64 hex digits"),
    ({"clinician": "ab" * 32, "patient": "cd" * 31}, 0o600, "patient: must be 64 hex digits"),
    ({"clinician": "xy" * 32, "patient": "cd" * 32}, 0o600, "clinician: must be 64 hex digits"),
    ({"clinician": "ab" * 32, "patient": "cd" * 32, "admin": "ef" * 32}, 0o600, "keys.admin: unknown"),
    ({"clinician": "ab" * 32, "patient": "AB" * 32}, 0o600, "must differ"),
    ({"clinician": "ab" * 32, "patient": "cd" * 32, "monitor": "ab" * 32}, 0o600,
     "keys: clinician and monitor keys must differ"),
    ({"clinician": "ab" * 32, "patient": "cd" * 32, "monitor": "ef" * 30}, 0o600, "keys.monitor: must be 64 hex"),
])
def test_bad_keys_files_are_refused_without_showing_a_key(tmp_path, doc, mode, message):
    path = str(tmp_path / "keys.json")
    _write(path, doc, mode)
    with pytest.raises(keys.KeysError) as e:
        keys.load(path)
    assert message in str(e.value)
    assert "ab" * 8 not in str(e.value) and "cd" * 8 not in str(e.value)


def test_a_missing_file_says_how_to_make_one(tmp_path):
    with pytest.raises(keys.KeysError, match="run `make keys`"):
        keys.load(str(tmp_path / "keys.json"))


def test_a_monitor_key_is_added_to_an_older_file_and_the_others_are_kept(tmp_path, capsys):
    path = str(tmp_path / "keys.json")
    _write(path, {"clinician": "ab" * 32, "patient": "cd" * 32})
    assert sorted(keys.load(path)) == ["clinician", "patient"]  # an older file stays valid
    with pytest.raises(keys.KeysError, match="no monitor key"):
        keys.load(path, ("monitor",))
    assert keys.main(["--out", path, "--add-monitor"]) == 0
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    have = keys.load(path)
    assert have["clinician"] == bytes.fromhex("ab" * 32) and have["patient"] == bytes.fromhex("cd" * 32)
    assert len(have["monitor"]) == 32 and have["monitor"].hex() not in capsys.readouterr().out
    before = open(path).read()
    assert keys.main(["--out", path, "--add-monitor"]) == 1
    assert "already has a monitor key" in capsys.readouterr().err and open(path).read() == before


def test_the_monitor_key_is_exported_alone_and_never_over_a_file(tmp_path, capsys):
    path = str(tmp_path / "keys.json")
    keys.create(path)
    out = str(tmp_path / "monitor.json")
    assert keys.main(["--out", path, "--monitor-out", out]) == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    with open(out) as f:
        assert json.load(f) == {"monitor": keys.load(path)["monitor"].hex()}
    assert keys.main(["--out", path, "--monitor-out", out]) == 1
    assert "already exists" in capsys.readouterr().err


def test_the_monitors_own_file_loads_and_is_checked(tmp_path):
    path = str(tmp_path / "monitor.json")
    _write(path, {"monitor": "ef" * 32})
    assert keys.load(path, ("monitor",)) == {"monitor": bytes.fromhex("ef" * 32)}
    for call in (lambda: keys.load(path), lambda: keys.add_monitor(path)):  # it is no keys.json for a pump
        with pytest.raises(keys.KeysError, match=r"keys\.clinician: must be 64 hex digits"):
            call()
    for bad in ("ef" * 31, "zz" * 32, 5, " " + "ef" * 32):
        _write(path, {"monitor": bad})
        with pytest.raises(keys.KeysError, match=r"keys\.monitor: must be 64 hex digits"):
            keys.load(path, ("monitor",))
