"""Small files written by the tests of the encoding policy (and of chunked reading):
a protein-function-like Mulan file, a MEKA multi-target file and a table of every kind of
column, each generated with a fixed seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

YES_NO = 6  # two-valued {NO,YES} attributes of the protein-like file
PROTEIN_ROWS = 30


def write_protein(folder: Path, *, sparse: bool = False) -> Path:
    """Like Mulan's protein-function files: a nominal `protein` identifier (28 distinct values
    in 30 rows), {NO,YES} attributes, a reversed {YES,NO} one, two numeric ones, a 3-valued
    nominal, and three labels named in a Mulan XML file beside it. Row 4 misses `yn0`."""
    rng = np.random.default_rng(7)
    names = [f"P{i:03d}" for i in range(28)]
    proteins = [*names, names[0], names[1]]
    header = ["@relation protein", "@attribute protein {" + ",".join(names) + "}"]
    header += [f"@attribute yn{j} {{NO,YES}}" for j in range(YES_NO)]
    header += ["@attribute rev {YES,NO}", "@attribute len numeric", "@attribute mass real",
               "@attribute kind {enzyme,receptor,other}"]
    header += [f"@attribute L{j} {{0,1}}" for j in range(3)]
    rows = []
    for i in range(PROTEIN_ROWS):
        cells = [proteins[i]]
        cells += [str(rng.choice(["NO", "YES"])) for _ in range(YES_NO)]
        cells += [str(rng.choice(["YES", "NO"])), f"{rng.integers(50, 900)}",
                  f"{rng.normal(40, 5):.2f}", str(rng.choice(["enzyme", "receptor", "other"]))]
        cells += [str(int(v)) for v in rng.random(3) < 0.4]
        if i == 4:
            cells[1] = "?"
        rows.append(",".join(cells))
    if sparse:
        rows = [_sparse(r) for r in rows]
    path = folder / ("protein-sparse.arff" if sparse else "protein.arff")
    path.write_text("\n".join([*header, "@data", *rows]) + "\n")
    (folder / "protein.xml").write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<labels xmlns="http://mulan.sourceforge.net/'
        'labels">\n' + "".join(f'<label name="L{j}"></label>\n' for j in range(3))
        + "</labels>\n")
    return path


def _sparse(row: str) -> str:
    """A dense row written as a sparse one, every value given."""
    return "{" + ",".join(f"{i} {v}" for i, v in enumerate(row.split(","))) + "}"


def write_multitarget(folder: Path, relation_options: str = "") -> Path:
    """MEKA multi-target: `-C 2`, labels class_x {A,B,C,NEG} (NEG most frequent) and
    class_y {red,green,blue} (green most frequent), three numeric features, 40 rows."""
    rng = np.random.default_rng(3)
    lines = [f"@relation 'mt: -C 2{relation_options}'",
             "@attribute class_x {A,B,C,NEG}", "@attribute class_y {red,green,blue}",
             "@attribute f1 numeric", "@attribute f2 numeric", "@attribute f3 numeric", "@data"]
    xs = ["NEG"] * 22 + ["A"] * 8 + ["B"] * 6 + ["C"] * 4
    ys = ["green"] * 18 + ["red"] * 12 + ["blue"] * 10
    order_x, order_y = rng.permutation(40), rng.permutation(40)
    for i in range(40):
        f = rng.normal(size=3).round(3)
        lines.append(f"{xs[order_x[i]]},{ys[order_y[i]]},{f[0]},{f[1]},{f[2]}")
    path = folder / "mt.arff"
    path.write_text("\n".join(lines) + "\n")
    return path


TABLE_ROWS = 25


def table_frame():  # -> pandas.DataFrame
    """Numeric `x`, identifier `id` (25 distinct in 25 rows), two-valued `smoker` (no/yes),
    two-valued `grade` (lo/hi, not a recognisable pair: positive is 'lo', second sorted),
    three-valued `colour` with a missing cell, labels lab_a and lab_b."""
    import pandas as pd

    rng = np.random.default_rng(5)
    n = TABLE_ROWS
    colour = rng.choice(["red", "green", "blue"], n).astype(object)
    colour[3] = None
    return pd.DataFrame({
        "id": [f"row{i:02d}" for i in range(n)], "x": rng.normal(size=n).round(3),
        "smoker": rng.choice(["no", "yes"], n), "grade": rng.choice(["lo", "hi"], n),
        "colour": colour, "lab_a": rng.integers(0, 2, n), "lab_b": rng.integers(0, 2, n),
    })


def write_table(folder: Path, fmt: str) -> Path:
    """`table_frame` as csv, tsv, jsonl or parquet."""
    frame = table_frame()
    path = folder / f"table.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif fmt == "jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path)
    return path
