"""A refill's reconciliation in plain words: the expected residual against the aspirated volume, and what a
difference beyond the tolerance may mean (docs/clinical.md, "A refill that does not add up")."""

MORE_BACK = ("more came back than the pump expected: it may have delivered less than programmed (under-infusion), "
             "from a catheter occlusion or kink, or a calibration error of the mechanism")
LESS_BACK = ("less came back than the pump expected: it may have delivered more than programmed (over-infusion), "
             "the reservoir or its septum may leak, or drug was injected outside the reservoir: a pocket fill is an "
             "emergency (watch the patient for overdose; follow the pocket-fill protocol)")


def verdict(expected_ul, aspirated_ul, tolerance_ul, discrepancy_ul):
    """Lines describing a refill's reconciliation (the pump's reply: expected None when unknown; aspirated None when
    not measured)."""
    if aspirated_ul is None:
        exp = "unknown" if expected_ul is None else "%d uL" % expected_ul
        return ["aspirated volume not measured: no reconciliation (expected residual %s)" % exp]
    if expected_ul is None:
        return ["aspirated %d uL; the expected residual is unknown (the pump lost its reservoir record at a reset): "
                "no reconciliation this time, the next refill has one" % aspirated_ul]
    head = "expected residual %d uL, aspirated %d uL (tolerance %d uL)" % (expected_ul, aspirated_ul, tolerance_ul)
    if not discrepancy_ul:
        return [head + ": within the tolerance"]
    lines = [head + ": DISCREPANCY of %+d uL" % discrepancy_ul]
    lines.append(MORE_BACK if discrepancy_ul > 0 else LESS_BACK)
    lines.append("the pump logged it and raised REFILL_DISCREPANCY (medium); the refill itself was applied")
    return lines
