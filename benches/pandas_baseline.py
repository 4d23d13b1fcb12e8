"""What a user would otherwise script: the plan of an edited template, computed with pandas.

Reads the stored rows (a plain CSV export of the repository) and the edited workbook's sheet
with ``pandas.read_excel``, merges them on the key, and finds the rows to create, update and
delete. Run by ``cargo bench --bench pipeline`` (see benches/README.md), once per measurement,
so that the peak memory is this run's own. Prints one ``RESULT {json}`` line.

    python benches/pandas_baseline.py --xlsx edited.xlsx --stored stored.csv \
        --sheet User --key Identifier --engine openpyxl --dates ContractStartDate,ContractEndDate
"""

import argparse
import json
import re
import time


def status_kb(field):
    """A field of /proc/self/status, in KiB (0 when unavailable)."""
    try:
        with open("/proc/self/status") as f:
            match = re.search(rf"^{field}:\s+(\d+)", f.read(), re.M)
        return int(match.group(1)) if match else 0
    except OSError:
        return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--xlsx", required=True)
    p.add_argument("--stored", required=True)
    p.add_argument("--sheet", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--engine", choices=["openpyxl", "calamine"], required=True)
    p.add_argument("--dates", default="")
    a = p.parse_args()

    import pandas as pd  # imported before the clock starts: interpreter start-up is not timed

    dates = [d for d in a.dates.split(",") if d]
    # Reset the peak-RSS mark, as the Rust steps do, so the peak is the work's.
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    rss_start = status_kb("VmRSS")
    stages = []
    started = lap = time.perf_counter()

    def done(name):
        nonlocal lap
        now = time.perf_counter()
        stages.append((name, now - lap))
        lap = now

    stored = pd.read_csv(a.stored, dtype=str, keep_default_na=False)
    done("read_csv (stored)")
    edited = pd.read_excel(a.xlsx, sheet_name=a.sheet, engine=a.engine, dtype=str)
    done("read_excel")
    edited = edited.drop(columns=["Command"], errors="ignore").fillna("")
    # Date cells come back as "YYYY-MM-DD 00:00:00": keep the date, as stored.
    for column in dates:
        edited[column] = edited[column].str.slice(0, 10)
    merged = stored.merge(edited, on=a.key, how="outer", suffixes=("_old", ""), indicator=True)
    attributes = [c for c in stored.columns if c != a.key]
    old = merged[[c + "_old" for c in attributes]].fillna("").to_numpy()
    new = merged[attributes].fillna("").to_numpy()
    both = (merged["_merge"] == "both").to_numpy()
    updated = both & (old != new).any(axis=1)
    plan = merged.loc[updated, [a.key]]
    creates = int((merged["_merge"] == "right_only").sum())
    deletes = int((merged["_merge"] == "left_only").sum())
    done("merge + diff")
    secs = time.perf_counter() - started
    print(
        "RESULT "
        + json.dumps(
            {
                "secs": secs,
                "rss_start_kb": rss_start,
                "hwm_kb": status_kb("VmHWM"),
                "updates": int(len(plan)),
                "creates": creates,
                "deletes": deletes,
                "stages": stages,
                "version": pd.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
