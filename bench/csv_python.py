"""The Python contender of bench/csv: the standard library's csv module
reading a recipients file the way its documentation says to (the file
opened with newline="" and encoding="utf-8"), as lists (csv.reader) or
as dicts keyed by the header (csv.DictReader).

    python3 csv_python.py FILE reader|dict

Reads FILE once and prints "rows=R fields=F seconds=S" and, for the
check, the note of the eighth row and of the last, in hex (UTF-8).
"""
import csv
import sys
import time


def main():
    path, mode = sys.argv[1], sys.argv[2]
    rows = fields = 0
    eighth = last = None
    t0 = time.perf_counter()
    with open(path, newline="", encoding="utf-8") as f:
        if mode == "dict":
            for row in csv.DictReader(f):
                rows += 1
                fields += len(row)
                if rows == 8:
                    eighth = row["note"]
                last = row
            last = last["note"]
        else:
            rd = csv.reader(f)
            next(rd)
            for row in rd:
                rows += 1
                fields += len(row)
                if rows == 8:
                    eighth = row[4]
                last = row
            last = last[4]
    seconds = time.perf_counter() - t0
    print("rows=%d fields=%d seconds=%.6f" % (rows, fields, seconds))
    print("eighth=" + eighth.encode("utf-8").hex())
    print("last=" + last.encode("utf-8").hex())


main()
