"""The hazard table stays true to the code: docs/hazards.md is generated from it, every removal edit still finds its
mitigation, and every test it names exists (`make hazards` then proves each test fails without its mitigation)."""

import os
import re

from verify.hazards import HAZARDS, ROOT, find_edits, markdown


def test_docs_hazards_md_is_generated_from_the_table():
    with open(os.path.join(ROOT, "docs", "hazards.md")) as f:
        assert f.read() == markdown(), "run: python -m verify.hazards --markdown > docs/hazards.md"


def test_every_removal_edit_finds_its_mitigation_once():
    assert find_edits() == []


def test_every_named_test_exists():
    for hid, _h, _c, _m, _remove, tests in HAZARDS:
        assert tests, hid
        for node in tests:
            path, name = node.split("::")
            name = name.split("[")[0]
            with open(os.path.join(ROOT, path)) as f:
                assert re.search(r"^def %s\(" % name, f.read(), re.M), node
