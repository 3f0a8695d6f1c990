"""History over BLE: Record Access Control Point requests (after the Bluetooth SIG RACP of IDS/GLS) on the event
log, filtered by sequence number; each record is then notified in the event log's own 24-byte layout.

Request: op u8, operator u8, then for operators 2-4 a filter type u8 (1: sequence number) and one (<=, >=) or two
(range) u32 sequence numbers. Responses: (OP_NUMBER, 0, count u32) to OP_COUNT, and (OP_RESPONSE, 0, request op,
code) for everything else, also at the end of a transfer.
"""

import struct

from pump.compat import const

OP_REPORT = const(1)
OP_DELETE = const(2)  # not supported: the event log is the pump's safety record
OP_ABORT = const(3)
OP_COUNT = const(4)
OP_NUMBER = const(5)
OP_RESPONSE = const(6)
OPR_NULL = const(0)
OPR_ALL = const(1)
OPR_LE = const(2)
OPR_GE = const(3)
OPR_RANGE = const(4)
OPR_FIRST = const(5)
OPR_LAST = const(6)
FILTER_SEQ = const(1)
RC_SUCCESS = const(1)
RC_OP_NOT_SUPPORTED = const(2)
RC_INVALID_OPERATOR = const(3)
RC_OPERATOR_NOT_SUPPORTED = const(4)
RC_INVALID_OPERAND = const(5)
RC_NO_RECORDS = const(6)
RC_ABORT_FAILED = const(7)
RC_NOT_COMPLETED = const(8)  # "procedure not completed": a transfer still running, or the log unreadable
RC_OPERAND_NOT_SUPPORTED = const(9)
RC_BAD_FRAME = const(0x80)  # the request's frames were refused (CRC, version, order, length)
RC_INSECURE = const(0x81)  # the link is not encrypted
NUMBER = "<BBI"
RESPONSE = "<BBBB"


def parse(msg, n, first_seq, last_seq):  # noqa: PLR0911 - one return per RACP result code
    """(op, code, first, last) of the request in msg[:n] against a log holding first_seq..last_seq; code 0 when it
    is valid (first..last is then the sequence range asked for, possibly empty)."""
    op = msg[0] if n else 0
    if op not in (OP_REPORT, OP_ABORT, OP_COUNT):
        return op, RC_OP_NOT_SUPPORTED, 0, 0
    if n < 2:
        return op, RC_INVALID_OPERATOR, 0, 0
    opr = msg[1]
    if op == OP_ABORT:
        return op, (0 if opr == OPR_NULL and n == 2 else RC_INVALID_OPERATOR), 0, 0
    if opr == OPR_NULL or opr > OPR_LAST:
        return op, (RC_INVALID_OPERATOR if opr == OPR_NULL else RC_OPERATOR_NOT_SUPPORTED), 0, 0
    if opr in (OPR_ALL, OPR_FIRST, OPR_LAST):
        if n != 2:
            return op, RC_INVALID_OPERAND, 0, 0
        if opr == OPR_FIRST:
            return op, 0, first_seq, first_seq
        if opr == OPR_LAST:
            return op, 0, last_seq, last_seq
        return op, 0, 1, last_seq
    if n < 3:
        return op, RC_INVALID_OPERAND, 0, 0
    if msg[2] != FILTER_SEQ:
        return op, RC_OPERAND_NOT_SUPPORTED, 0, 0
    if n != (11 if opr == OPR_RANGE else 7):
        return op, RC_INVALID_OPERAND, 0, 0
    a = struct.unpack_from("<I", msg, 3)[0]
    if opr == OPR_LE:
        return op, 0, 1, a
    if opr == OPR_GE:
        return op, 0, a, 0xFFFFFFFF
    b = struct.unpack_from("<I", msg, 7)[0]
    return op, (0 if a <= b else RC_INVALID_OPERAND), a, b
