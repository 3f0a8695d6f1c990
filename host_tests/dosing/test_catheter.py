"""Catheter queue: old drugs appended by refills with a new strength, drained step by step from the tip with the
carry into the next segment, merged (at the stronger strength) when full, kept and undone around a refused burst,
saved and restored, and the weakest drug a dose reaches; volumes at the edge of the boards' small ints.
"""

from pump.catheter import SLOTS, Catheter
from support import small_int_limit

RUNS_ON_MICROPYTHON = True  # also run on MicroPython, unix and webassembly (host_tests/README.md)

_CATHETER_NL = 150000


def _queue(*segments):
    c = Catheter()
    c.restore(segments)
    return c


def test_a_refill_appends_the_reservoir_drug_part_so_the_queue_never_exceeds_the_catheter():
    c = Catheter()
    assert (c.n, c.old_nl, c.tip_conc(7)) == (0, 0, 7)
    c.refilled(_CATHETER_NL, 20000)  # the first refill with a new strength: the whole catheter is old drug
    assert c.segments() == [(_CATHETER_NL, 20000)] and c.old_nl == _CATHETER_NL and c.tip_conc(5000) == 20000
    for _ in range(83):
        c.moved(200)
    c.refilled(_CATHETER_NL, 5000)  # 16.6 uL of the middle drug entered behind the first: only that is appended
    assert c.segments() == [(_CATHETER_NL - 16600, 20000), (16600, 5000)]
    assert c.old_nl == _CATHETER_NL
    c.refilled(_CATHETER_NL, 10000)  # nothing moved since: the catheter is all old drug already, nothing appended
    assert c.n == 2 and c.old_nl == _CATHETER_NL


def test_moved_carries_past_a_segment_end_into_the_next_and_says_when_the_tip_changed():
    c = _queue((500, 20000), (300, 5000), (1000, 10000))
    assert [c.moved(200), c.moved(200)] == [False, False]
    assert c.moved(200)  # 100 nL of the first and 100 nL of the second: the tip's drug changes with this step
    assert c.segments() == [(200, 5000), (1000, 10000)] and c.old_nl == 1200 and c.tip_conc(1) == 5000
    assert c.moved(200)  # exactly the rest of the second: it ends here, not one step later
    assert c.segments() == [(1000, 10000)] and c.tip_conc(1) == 10000
    assert c.moved(1100)  # past the end of the last: the reservoir's drug is at the tip
    assert (c.n, c.old_nl, c.segments(), c.tip_conc(3)) == (0, 0, [], 3)
    assert not c.moved(200)  # an empty queue stays empty


def test_one_step_may_pass_several_short_segments():
    c = _queue((50, 1000), (60, 2000), (70, 3000), (500, 4000))
    assert c.moved(200) and c.segments() == [(480, 4000)] and c.old_nl == 480


def test_a_refill_needs_a_strength_and_room_in_the_catheter():
    c = Catheter()
    c.refilled(1000, 0)  # no drug: nothing to queue
    c.refilled(0, 10000)  # no catheter: nothing either
    assert c.n == 0 and c.old_nl == 0
    c.refilled(1000, 1)  # the weakest strength there is
    assert c.segments() == [(1000, 1)]


def test_same_strength_as_the_newest_segment_extends_it():
    c = _queue((1000, 20000))
    c.refilled(3000, 20000)
    assert c.segments() == [(3000, 20000)] and c.merges == 0


def test_a_full_queue_merges_the_new_segment_with_the_newest_at_the_stronger_strength():
    c = Catheter()
    strengths = (20000, 5000, 10000, 2500, 1000, 30000)
    for conc in strengths:
        c.refilled(_CATHETER_NL, conc)
        for _ in range(20):
            c.moved(200)
    # four in the queue at most: the fifth (1000) joined the fourth (2500) as 2500, the sixth (30000) them as 30000
    assert c.n == SLOTS and c.merges == 2
    assert [conc for _nl, conc in c.segments()] == [20000, 5000, 10000, 30000]
    assert c.old_nl == _CATHETER_NL - 20 * 200 and sum(nl for nl, _c in c.segments()) == c.old_nl
    assert c.segments()[-1][0] == 3 * 20 * 200  # the three drugs' volumes that entered behind the third
    # paced as the stronger, the merged volume can only deliver less than programmed: the pump goes slower there
    assert min(strengths[3:]) < c.segments()[-1][1] == max(strengths[3:])
    merged = _queue((100, 1000), (100, 2000), (100, 3000), (100, 4000), (100, 500), (100, 8000))
    assert merged.segments() == [(100, 1000), (100, 2000), (100, 3000), (300, 8000)] and merged.merges == 2


def test_a_merge_into_a_partly_drained_tip_keeps_what_is_left_of_it():
    c = Catheter(slots=1)
    c.refilled(1000, 20000)
    c.moved(300)
    c.refilled(1000, 5000)  # one slot: the 300 nL behind it merge into the tip, paced as the stronger
    assert c.segments() == [(1000, 20000)] and c.old_nl == 1000


def test_the_ring_wraps_as_segments_end_and_new_ones_come():
    c = Catheter()
    expected = []
    for i in range(11):  # a 900 nL catheter refilled with a new strength after every 300 nL
        conc = 1000 * (i % 2 + 1) + i
        c.refilled(900, conc)
        expected.append(conc)
        assert [s for _nl, s in c.segments()] == expected[-3:], i
        assert c.moved(300) == (i >= 2) and c.old_nl == 600  # from the third on, each 300 nL ends the oldest
    assert c.head == 9 % 4 and c.merges == 0  # nine segments ended: the tip went round the four slots twice


def test_keep_and_undo_restore_the_queue_exactly_across_segment_ends():
    c = _queue((200, 1), (500, 20000), (300, 5000), (1000, 10000))
    c.moved(300)  # the tip is the second slot now: keep() must save where it is
    before = (c.segments(), c.old_nl, c.tip_conc(0), c.head)
    assert before[3] == 1
    c.keep()
    for _ in range(6):  # through two segment ends
        c.moved(200)
    assert c.tip_conc(0) == 10000
    c.undo()
    assert (c.segments(), c.old_nl, c.tip_conc(0), c.head) == before
    c.keep()
    c.moved(5000)  # everything out
    c.undo()
    assert (c.segments(), c.old_nl, c.head) == before[:2] + before[3:]


def test_restore_skips_entries_without_drug_and_merges_beyond_the_slots():
    c = _queue((0, 20000), (-5, 10000), (100, 0), (400, 5000))
    assert c.segments() == [(400, 5000)]
    c.restore([])
    assert c.n == 0 and c.old_nl == 0
    c = _queue((1, 1), (1, 2), (1, 3), (1, 4), (1, 5))
    assert c.segments() == [(1, 1), (1, 2), (1, 3), (2, 5)]


def test_weakest_drug_a_dose_reaches():
    c = _queue((100000, 20000), (50000, 5000))  # 2000 ug, then 250 ug of dose
    assert c.weakest(1000000, 10000) == 20000  # 1000 ug: within the tip segment
    assert c.weakest(2000000, 10000) == 20000  # exactly the tip's dose: the next drug is not reached
    assert c.weakest(2000001, 10000) == 5000
    assert c.weakest(2250001, 2000) == 2000  # past the queue: the reservoir's drug, the weakest here
    assert c.weakest(2250001, 30000) == 5000
    assert Catheter().weakest(1, 10000) == 10000
    c.moved(60000)  # what is left of the tip counts
    assert c.weakest(800000, 10000) == 20000 and c.weakest(800001, 10000) == 5000
    one = _queue((100000, 20000))  # a dose that stays within the last segment never reaches the reservoir's drug
    assert one.weakest(1000, 5000) == 20000 and one.weakest(2000000, 5000) == 20000
    assert one.weakest(2000001, 5000) == 5000
    tiny = _queue((1, 999), (1, 5))  # 999 pg, then 5 pg: 1 ng reaches past the first by exactly 1 pg
    assert tiny.weakest(1, 10000) == 5
    assert _queue((1, 999)).weakest(1, 7) == 7


def test_volumes_at_the_edge_of_small_ints_stay_small_ints():
    # volumes below 2**29 nL: a segment plus a step stays below 2**30, the boards' small-int limit
    top = (1 << 29) - 1
    c = Catheter()
    c.refilled(top, 30000)
    assert c.old_nl == top
    assert not c.moved(top - 1)
    assert c.used_nl == top - 1 and c.old_nl == 1
    assert c.moved(top)  # used + nl = 2**30 - 2 + 1 at most: still a small int
    assert c.n == 0 and c.old_nl == 0 and c.used_nl == 0
    c.refilled(top, 30000)
    c.moved(top)
    c.refilled(top, 20000)
    c.refilled(top, 10000)
    assert c.old_nl == top
    limit = small_int_limit()
    for value in (c.old_nl, c.used_nl) + tuple(v for seg in c.segments() for v in seg):
        assert limit is None or -limit < value < limit
