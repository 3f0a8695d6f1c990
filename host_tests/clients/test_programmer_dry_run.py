"""tools.programmer: its offline checks and dry runs are the pump's own (issue 16, item 8)."""


import pytest

from support.cli import (one_line_refusal, run_programmer, rx_file)


# ---- item 8: the programmer's offline checks and dry runs are the pump's ----

@pytest.mark.parametrize("argv, line", [
    (["check", "RX", "--fill-ul", "0"], "programmer: --fill-ul: E101 value out of range: fill_ul: 0: allowed 1..40000"),
    (["check", "RX", "--fill-ul", "-5"],
     "programmer: --fill-ul: E101 value out of range: fill_ul: -5: allowed 1..40000"),
    (["refill", "--fill-ul", "-5", "--dry-run"],
     "programmer: --fill-ul: E101 value out of range: fill_ul: -5: allowed 1..40000"),
    (["refill", "--fill-ul", "0", "--dry-run", "--rx", "RX"],
     "programmer: --fill-ul: E101 value out of range: fill_ul: 0: allowed 1..40000"),
    (["prime", "--volume-ul", "9999", "--dry-run", "--rx", "RX"],
     "programmer: --volume-ul: E101 value out of range: volume_ul: 9999: allowed 1..5000"),
    (["bolus", "--dose-ug", "1001", "--duration-min", "60", "--dry-run", "--rx", "RX"],
     "programmer: dry run: the pump would refuse bolus: E200 hard limit exceeded: bolus.dose_ug"),
    (["bolus", "--dose-ug", "600", "--duration-min", "60", "--dry-run", "--rx", "RX"],
     "programmer: dry run: the pump would refuse bolus: E201 soft limit needs confirmation: bolus.dose_ug"),
    (["refill", "--fill-ul", "5000", "--concentration", "99999", "--dry-run", "--rx", "RX"],
     "programmer: dry run: the pump would refuse refill: E200 hard limit exceeded: drug.concentration_ug_per_ml"),
    (["bolus", "--dose-ug", "50", "--duration-min", "60", "--dry-run"],
     "programmer: --rx: a dry run of bolus runs the pump's checks against the program it runs"),
    (["suspend", "--rx", "RX", "--device", "PUMP-1"], "programmer: --rx: only with --dry-run"),
])
def test_offline_checks_and_dry_runs_refuse_what_the_pump_refuses(tmp_path, argv, line):
    rx = rx_file(tmp_path)
    code, out = run_programmer(tmp_path, *[rx if a == "RX" else a for a in argv])
    one_line_refusal(code, out)
    assert out[0].startswith(line), out


def test_a_dry_run_says_would_send_only_for_what_the_pump_accepts(tmp_path):
    rx = rx_file(tmp_path)
    for argv, sent in [
        (["bolus", "--dose-ug", "100", "--duration-min", "30"], "bolus (confirm_soft=False, dose_ug=100, "
                                                                 "duration_min=30)"),
        (["refill", "--fill-ul", "20000", "--concentration", "20000"], "refill (concentration_ug_per_ml=20000, "
                                                                        "fill_ul=20000)"),
        (["prime", "--volume-ul", "150"], "prime (volume_ul=150)"),
    ]:
        code, out = run_programmer(tmp_path, *argv, "--dry-run", "--rx", rx)
        assert code == 0 and out == ["dry run: would send " + sent], out
