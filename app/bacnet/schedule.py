"""The points schedule an integrator hands over: every object of the site's BACnet device, as CSV or Markdown.

Generated from the same point table the device serves, so the schedule and the device cannot disagree.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from app.bacnet.points import NOTIFICATION_CLASS, Kind, Point, build_points, register_maps
from app.config import SiteConfig

COLUMNS = ("object type", "instance", "name", "description", "units", "access", "priority", "COV increment",
           "alarm limits", "values")


def bacnet_name(identifier: str) -> str:
    """bacpypes3's camelCase enumeration name as BACnet spells it (degreesCelsius -> degrees-celsius)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", identifier).lower()


def _values(point: Point) -> str:
    if point.kind.multistate:
        return "; ".join(f"{i}={s}" for i, s in enumerate(point.states, start=1))
    if point.kind.binary:
        inactive, active = point.states or ("inactive", "active")
        return f"0={inactive}; 1={active}"
    if point.commandable:
        low = point.safety_min if point.safety_min is not None else point.minimum
        floor = " (below: write-access-denied, safety)" if point.safety_min is not None else ""
        return f"{'' if low is None else f'{low:g}'}..{'' if point.maximum is None else f'{point.maximum:g}'}{floor}"
    return ""


def rows(site: SiteConfig, site_dir: Path | None = None) -> list[tuple[str, ...]]:
    """One row per object: the device, the notification class, every point, every trend log."""
    assert site.bacnet is not None
    out: list[tuple[str, ...]] = [
        ("device", str(site.bacnet.device_instance), site.bacnet.device_name,
         f"{site.site.name} heat pump supervisor ({site.bacnet.vendor_name})", "", "read", "", "", "", ""),
        ("notification-class", str(NOTIFICATION_CLASS), "alarms", "alarm recipients (front-ends may add "
         "themselves to recipient-list); ack required for to-offnormal and to-fault", "", "read, recipient-list "
         "writable", "", "", "", ""),
    ]
    points = build_points(site, register_maps(site, site_dir))
    for p in points:
        access = "command" if p.commandable else ("read (present-value writable when out-of-service)"
                                                 if p.kind in (Kind.ANALOG_INPUT, Kind.BINARY_INPUT,
                                                               Kind.MULTI_STATE_INPUT) else "read")
        priority = f"1-16, relinquish default {p.text(p.default)}" if p.commandable else ""
        alarm = f"{p.alarm.describe(p.kind)}, notification class {NOTIFICATION_CLASS}" if p.alarm else ""
        out.append((bacnet_name(p.kind.value), str(p.instance), p.key, p.description,
                    bacnet_name(p.units) if p.kind.analog else "", access, priority,
                    "" if p.cov_increment is None else f"{p.cov_increment:g}", alarm, _values(p)))
    for p in points:
        if p.trend:
            out.append(("trend-log", str(p.instance), f"{p.key}.trend", f"{p.description}: present value every "
                        f"{site.control.cycle_s:g} s (log-buffer by ReadRange)", "", "read", "", "", "", ""))
    return out


def render(site: SiteConfig, site_dir: Path | None, fmt: str) -> str:
    """The schedule as ``csv`` or ``md`` text."""
    table = rows(site, site_dir)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(table)
        return buf.getvalue()
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in table]
    return "\n".join(lines) + "\n"
