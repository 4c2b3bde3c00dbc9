"""The L8 audit export: the temperature log and cycle outcomes as CSV, and a PDF an auditor can read.

The PDF's first page summarises the period: DHW cycles passed and failed, the minimum temperature and
the time below the L8 limit at each sensor (60 °C stored water, 50 °C secondary return), any gaps in
logging, and the hash chain — whether it verifies, the hash of the period's last record and the chain
head at export time. Then one page per week charts every sensor, with the limits and each cycle outcome.
Times are UTC.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.audit.chain import FIELDS, SEP, ChainLine, Verdict
from app.audit.log import Series

STORAGE_MIN_C = 60.0
SECONDARY_RETURN_MIN_C = 50.0
CSV_COLUMNS = (*FIELDS, "hash")


def default_limit(cylinder: str, sensor: str) -> float:
    """The L8 minimum for a sensor: 50 °C on a secondary return, else 60 °C for stored water."""
    return SECONDARY_RETURN_MIN_C if "return" in sensor else STORAGE_MIN_C


@dataclass
class SensorStats:
    cylinder: str
    sensor: str
    limit_c: float
    samples: int
    min_c: float
    min_at: str
    below_s: float


@dataclass
class Cycle:
    ts: str
    cylinder: str
    cycle: str
    passed: bool
    detail: str


@dataclass
class Gap:
    cylinder: str
    sensor: str
    start: str
    end: str
    minutes: float


@dataclass
class L8Summary:
    """What the PDF's summary page says about one site and period."""

    site: str
    start: datetime
    end: datetime
    records: int
    sensors: list[SensorStats] = field(default_factory=list)
    cycles: list[Cycle] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    period_first_seq: int | None = None
    period_last_seq: int | None = None
    period_last_hash: str | None = None
    head_seq: int | None = None
    head_hash: str | None = None
    verdict: Verdict | None = None
    series: Series = field(default_factory=dict)

    @property
    def passed(self) -> int:
        return sum(c.passed for c in self.cycles)

    @property
    def failed(self) -> int:
        return sum(not c.passed for c in self.cycles)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")


def _epoch(ts: str) -> float:
    return datetime.fromisoformat(ts).timestamp()


def summarise(
    series: Series, cycles: Sequence[ChainLine], site: str, start: datetime, end: datetime, *,
    records: int, max_gap_s: float = 900.0, limit: Callable[[str, str], float] = default_limit,
) -> L8Summary:
    """The period's figures from its temperature series and cycle records; ``end`` is exclusive."""
    out = L8Summary(site, start, end, records, series=series)
    for line in cycles:
        f = dict(zip(FIELDS, line.text.split(SEP), strict=True))
        data: dict[str, Any] = json.loads(f["data"]) if f["data"] else {}
        detail = ", ".join(f"{k} {v}" for k, v in data.items() if k not in ("cycle", "outcome"))
        out.cycles.append(Cycle(f["ts"], f["cylinder"], str(data.get("cycle", "cycle")),
                                data.get("outcome") == "pass", detail))
    t0, t1 = start.timestamp(), end.timestamp()
    for (cyl, sensor), (t, v) in series.items():
        if not len(t):
            continue
        held = np.minimum(np.diff(np.append(t, t1)), max_gap_s)
        lim = limit(cyl, sensor)
        k = int(np.argmin(v))
        out.sensors.append(SensorStats(cyl, sensor, lim, len(v), float(v[k]), _iso(t[k]),
                                       float(held[v < lim].sum())))
        edges = np.concatenate(([t0], t, [t1]))
        for i in np.flatnonzero(np.diff(edges) > max_gap_s).tolist():
            a, b = float(edges[i]), float(edges[i + 1])
            out.gaps.append(Gap(cyl, sensor, _iso(a), _iso(b), (b - a) / 60.0))
    return out


def csv_line(line: ChainLine) -> str:
    """One record as a CSV line (quoted where a field needs it), without the line end."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow([*line[2].split(SEP), line[3]])
    return buf.getvalue()


def write_csv(blocks: Iterable[tuple[list[str], str]], out: Path) -> tuple[int, str | None]:
    """Every record with its hashes, so anyone can re-check the chain from the file.

    ``blocks`` are lists of CSV lines with the hash of each block's last record; returns how many
    records were written and the last one's hash."""
    n, last = 0, None
    with out.open("w", newline="", encoding="utf-8") as fh:
        fh.write(",".join(CSV_COLUMNS) + "\r\n")
        for lines, block_last in blocks:
            if lines:
                fh.write("\r\n".join(lines) + "\r\n")
                n, last = n + len(lines), block_last
    return n, last


def read_csv(path: Path) -> list[ChainLine]:
    """Records of an exported CSV, in file order (``ref`` is the line number)."""
    from app.monitoring.parsers import DataFileError

    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or tuple(header) != CSV_COLUMNS:
            raise DataFileError(path, 1, f"not an L8 export: header {header} is not {list(CSV_COLUMNS)}")
        lines = []
        for n, cells in enumerate(reader, start=2):
            if len(cells) != len(CSV_COLUMNS):
                raise DataFileError(path, n, f"{len(cells)} fields where the header has {len(CSV_COLUMNS)}")
            try:
                seq = int(cells[0])
            except ValueError:
                raise DataFileError(path, n, f"column 'seq': not an integer: {cells[0]!r}") from None
            lines.append(ChainLine(n, seq, SEP.join(cells[:-1]), cells[-1]))
    return lines


def _weeks(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    monday = (start - timedelta(days=start.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    weeks = []
    while monday < end:
        weeks.append((max(monday, start), min(monday + timedelta(days=7), end)))
        monday += timedelta(days=7)
    return weeks


def _envelope(t: NDArray[np.float64], v: NDArray[np.float64], bin_s: float,
              max_gap_s: float) -> tuple[NDArray, NDArray, NDArray]:
    """Per time bin: its start, and the lowest and highest reading (keeps every dip visible); a NaN
    breaks the line wherever logging stopped for longer than ``max_gap_s``."""
    b = np.floor(t / bin_s).astype(np.int64)
    first = np.flatnonzero(np.concatenate(([True], b[1:] != b[:-1])))
    x, lo, hi = b[first] * bin_s, np.minimum.reduceat(v, first), np.maximum.reduceat(v, first)
    breaks = np.flatnonzero(np.diff(x) > max(max_gap_s, bin_s)) + 1
    return (np.insert(x, breaks, x[breaks - 1] + bin_s), np.insert(lo, breaks, np.nan),
            np.insert(hi, breaks, np.nan))


def _summary_page(s: L8Summary, generated: datetime) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.27, 11.69))
    lines = [
        (f"HSE L8 temperature log — site {s.site}", 15, "bold"),
        (f"Period {s.start:%Y-%m-%d %H:%M} to {s.end:%Y-%m-%d %H:%M} UTC; generated {generated:%Y-%m-%d %H:%M} UTC",
         9, "normal"),
        ("", 9, "normal"),
        (f"DHW cycles: {s.passed} passed, {s.failed} failed", 12, "bold"),
    ]
    lines += [(f"  FAILED {c.ts[:16]} {c.cylinder} {c.cycle}: {c.detail}", 9, "normal")
              for c in s.cycles if not c.passed][:15]
    lines += [("", 9, "normal"), ("Temperatures", 12, "bold")]
    lines += [(f"  {x.cylinder} / {x.sensor}: minimum {x.min_c:.1f} °C at {x.min_at}; below {x.limit_c:g} °C for "
               f"{x.below_s / 3600:.1f} h ({x.samples} readings)", 9, "normal") for x in s.sensors[:20]]
    if not s.sensors:
        lines.append(("  no temperature records in the period", 9, "normal"))
    lines += [("", 9, "normal"), (f"Gaps in logging: {len(s.gaps)}", 12, "bold")]
    lines += [(f"  {g.cylinder} / {g.sensor}: {g.start} to {g.end} ({g.minutes:.0f} min)", 9, "normal")
              for g in s.gaps[:15]]
    if len(s.gaps) > 15:
        lines.append((f"  … and {len(s.gaps) - 15} more", 9, "normal"))
    v = s.verdict
    state = "not checked" if v is None else ("VERIFIED" if v.ok else f"FAILED ({len(v.problems)} finding(s))")
    lines += [("", 9, "normal"), (f"Hash chain: {state}", 12, "bold"),
              (f"  records in period: {s.records} (seq {s.period_first_seq} to {s.period_last_seq})", 9, "normal"),
              (f"  final hash of the period: {s.period_last_hash}", 8, "normal"),
              (f"  chain head at export: seq {s.head_seq}, {s.head_hash}", 8, "normal")]
    if v is not None:
        lines += [(f"  {p}", 8, "normal") for p in v.problems[:10]]
    y = 0.96
    for text, size, weight in lines:
        fig.text(0.06, y, text, fontsize=size, fontweight=weight, family="DejaVu Sans")
        y -= 0.012 + size * 0.0016
    return fig


def write_pdf(s: L8Summary, out: Path, generated: datetime, max_gap_s: float = 900.0) -> None:
    """The summary page, then one chart per week of every sensor with limits and cycle outcomes."""
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    cycles = [(_epoch(c.ts), c) for c in s.cycles]
    fig = Figure(figsize=(11.69, 8.27))  # one figure, redrawn for each week
    ax = fig.add_subplot()
    lines = {key: ax.plot([], [], lw=0.8, label=f"{key[0]} / {key[1]}")[0] for key in s.series}
    ax.axhline(STORAGE_MIN_C, color="black", lw=0.8, ls="--", label="60 °C storage")
    ax.axhline(SECONDARY_RETURN_MIN_C, color="grey", lw=0.8, ls=":", label="50 °C secondary return")
    ax.set_xlabel("UTC; vertical lines: DHW cycles (green passed, red failed)")
    ax.set_ylabel("°C")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=7)
    values = [v for _, v in s.series.values() if len(v)]
    ax.set_ylim(min([SECONDARY_RETURN_MIN_C - 3] + [float(v.min()) - 1 for v in values]),
                max([STORAGE_MIN_C + 5] + [float(v.max()) + 1 for v in values]))
    with PdfPages(out, metadata={"Title": f"L8 temperature log {s.site}", "Creator": "hp-supervisor"}) as pdf:
        pdf.savefig(_summary_page(s, generated))
        for a, b in _weeks(s.start, s.end):
            ta, tb = a.timestamp(), b.timestamp()
            drawn = []
            for key, (t, v) in s.series.items():
                lo, hi = np.searchsorted(t, [ta, tb])
                if hi > lo:
                    x, vmin, vmax = _envelope(t[lo:hi], v[lo:hi], 600.0, max_gap_s)
                else:
                    x = vmin = vmax = np.empty(0)
                days = (x - ta) / 86400.0
                lines[key].set_data(days, vmin)
                drawn.append(ax.fill_between(days, vmin, vmax, color=lines[key].get_color(), alpha=0.25, lw=0))
            drawn += [ax.axvline((tc - ta) / 86400.0, color="green" if c.passed else "red", lw=1.2, alpha=0.7)
                      for tc, c in cycles if ta <= tc < tb]
            ax.set_xlim(0, (tb - ta) / 86400.0)
            ticks = np.arange(0, (tb - ta) / 86400.0 + 1e-9)
            ax.set_xticks(ticks, [f"{a + timedelta(days=float(d)):%a %d %b}" for d in ticks], fontsize=8)
            ax.set_title(f"{s.site}: week of {a:%Y-%m-%d}")
            pdf.savefig(fig)
            for artist in drawn:
                artist.remove()
