"""The simulated plant's catheter line (board.sim.Plant): the physical truth the firmware's catheter queue is judged
against. Each step's true volume enters at the reservoir's strength, the oldest drug leaves at the tip, and the drug
mass that left is counted exactly (whole ng plus the pg below); with hydraulics the tip follows the volume delivered.
"""

from board.sim.clock import VirtualClock
from board.sim.hydraulics import Hydraulics
from board.sim.plant import Plant

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)


def test_a_primed_line_delivers_its_first_drug_then_each_refill_in_turn():
    plant = Plant(nl_per_step=200, catheter_ul=1)  # 1 uL of line: 5 steps
    plant.refill(100, 20000)  # never held drug: the line is primed with the first fill's
    plant.forward(3)
    assert plant.delivered_nl == 600 and plant.delivered_ng == 12000  # 600 nL x 20 ng/nL
    plant.refill(100, 5000)
    plant.forward(2)  # still the first drug
    assert plant.delivered_ng == 20000
    plant.refill(100, 10000)  # the line: 600 nL of the first drug, 400 of the second
    plant.forward(3)
    assert plant.delivered_ng == 32000
    plant.forward(1)
    assert plant.delivered_ng == 33000  # 200 nL of the second drug
    plant.forward(2)
    assert plant.delivered_ng == 36000  # its last 200 nL, then 200 of the third
    assert plant.line_conc[plant._tip :] == [10000] and plant.line_nl[plant._tip :] == [1000]


def test_mass_below_one_ng_is_kept_exactly():
    plant = Plant(nl_per_step=1, conc_ug_per_ml=7, fill_ul=2)  # 7 pg per nL
    for _ in range(1000):
        plant.forward(1)
    assert plant.delivered_ng == 7 and plant._pg == 0 and plant.delivered_ug == 0.007
    plant.forward(1)
    assert plant.delivered_ng == 7 and plant._pg == 7 and abs(plant.delivered_ug - 0.007007) < 1e-12


def test_an_empty_reservoir_or_a_jam_moves_no_drug():
    plant = Plant(nl_per_step=200, fill_ul=1, conc_ug_per_ml=10000, catheter_ul=150)
    plant.forward(10)  # 1 uL in: only 1000 nL moved
    assert plant.delivered_nl == 1000 and plant.delivered_ng == 10000
    plant.jammed = True
    plant.refill(10)
    plant.forward(10)
    assert plant.delivered_nl == 1000 and plant.delivered_ng == 10000


def test_with_hydraulics_the_tip_follows_the_volume_delivered_and_a_backflow_counts_once():
    clock = VirtualClock()
    plant = Plant(nl_per_step=200, fill_ul=1000, conc_ug_per_ml=10000, catheter_ul=150)
    hyd = Hydraulics(clock, postures_per_day=0, resp_kpa=0.5, cardiac_kpa=0).attach(plant)
    plant.refill(1000, 20000)
    highest = 0
    for _ in range(1000):  # 200 uL
        clock.t_ms += 250
        plant.forward(1)
        hyd.advance()
        highest = max(highest, plant.delivered_nl)
    clock.t_ms += 60000
    hyd.advance()
    highest = max(highest, plant.delivered_nl)
    # the line held 150 uL of the first drug: the mass is the first 150 uL at 10 ug/uL, the rest at 20, for the
    # most that has ever left the tip (CSF waves push some back now and then; it leaves again without counting twice)
    expected_pg = 150000 * 10000 + (highest - 150000) * 20000
    assert plant.delivered_ng == expected_pg // 1000 and plant._pg == expected_pg % 1000


def test_the_back_off_draws_back_from_the_reservoir_end_of_the_line():
    clock = VirtualClock()
    plant = Plant(nl_per_step=200, fill_ul=1000, conc_ug_per_ml=10000, catheter_ul=1)
    hyd = Hydraulics(clock, postures_per_day=0, resp_kpa=0, cardiac_kpa=0).attach(plant)
    hyd.occlude()
    plant.refill(1000, 20000)
    plant.forward(2)  # held in the compliance: 400 nL of the new drug behind the 1 uL of the old one
    assert plant.delivered_nl == 0 and plant.line_nl[plant._tip :] == [1000, 400]
    plant.reverse(3)  # 600 nL back: the new drug's 400, then 200 of the old one
    assert plant.line_nl[plant._tip :] == [800, 0] and plant.reservoir_nl == 1000000 - 400 + 600
