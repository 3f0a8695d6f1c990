"""docs/setup.md: the wiring tables name every pin of each board module, with the module's numbers."""

import os
import re

from tools.boardconfig.boardconfig import board_defaults
from support import ROOT



def _section(title):
    with open(os.path.join(ROOT, "docs", "setup.md")) as f:
        text = f.read()
    start = text.index("## " + title)
    end = text.find("\n## ", start + 1)
    return text[start:end]


def _table(section):
    """{key: pin text} from the rows `| role | `key` | GPIO | ...`."""
    rows = {}
    for m in re.finditer(r"^\| [^|]+ \| `(\w+)` \| (?:GPIO|GP)?(\w+) \|", section, re.M):
        rows[m.group(1)] = m.group(2)
    return rows


def _suggested(board):
    """Pins the board module suggests in comments for its optional roles (`"key": None,  # 27 when ...`)."""
    with open(os.path.join(ROOT, "board", board + ".py")) as f:
        return dict(re.findall(r'^\s+"(\w+)": None,\s+#\s+(\d+)', f.read(), re.M))


def test_wiring_tables_match_the_board_modules():
    for board, title in (("pico_w", "3. Wiring: Raspberry Pi Pico W"), ("esp32_devkit", "4. Wiring: ESP32-DevKitC")):
        pins, _ = board_defaults(board)
        rows = _table(_section(title))
        expected = {k: str(v) for k, v in pins.items() if v is not None}
        expected.update(_suggested(board))
        assert rows == expected, board
        assert set(rows) == set(pins), board  # every role of the board module is in the table
