"""The plot's event marks grouped so their labels stay readable: marks closer than a slot of the time axis share one
label ("patient_bolus x12, reset"), refused commands apart from granted ones. Pure: tested without matplotlib."""

SLOTS = 32  # labels across the time axis at most (twice that with refusals): each gets 3 % of its width


def group_marks(marks, span_h, slots=SLOTS):
    """[(t_h of the group's first mark, label, granted)] from [(t_h, label, granted)], sorted by time: the marks of
    each slot of span_h / slots hours, granted and refused ones separately, labels counted in order of appearance."""
    width = max(span_h, 1e-9) / slots
    groups = {}
    order = []
    for t_h, label, granted in sorted(marks, key=lambda m: m[0]):
        key = (int(t_h // width), granted)
        if key not in groups:
            groups[key] = (t_h, {})
            order.append(key)
        counts = groups[key][1]
        counts[label] = counts.get(label, 0) + 1
    out = []
    for key in order:
        t_h, counts = groups[key]
        text = ", ".join(label if n == 1 else "%s x%d" % (label, n) for label, n in counts.items())
        out.append((t_h, text, key[1]))
    return out
