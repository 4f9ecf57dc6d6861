"""`pyomp.explain(fn)`: what pyomp made of each OpenMP region of a compiled function.

Per region: the directive and its line, every variable's data-sharing attribute with the
reason (the clause, or which default rule), a worksharing loop's schedule, the race
warnings of the region (pyomp.races), whether the region can raise, the outlined
function's name and (with `ir=True`) its LLVM IR after the pass.
"""

import re


def _regions(dispatcher):
    for sig, cres in dispatcher.overloads.items():
        library = cres.library
        # the front end's regions (by id): what the pass's reports do not carry
        front = {getattr(r, "region_id", None): r
                 for r in (getattr(cres, "metadata", None) or {}).get("pyomp_regions", [])}
        yield (sig, getattr(library, "pyomp_regions", []),
               getattr(library, "pyomp_lowered_ir", []), front)


def schedule_text(directive):
    """A worksharing loop's schedule: 'dynamic, chunk 1000', 'static (default)'."""
    clause = directive.clause("schedule") if directive is not None else None
    if clause is None:
        return "static (default)"
    text = "".join(f"{m}:" for m in clause.modifiers) + clause.kind
    if clause.expr is not None:
        text += f", chunk {clause.expr.text}"
    if clause.kind == "runtime":
        text += " (OMP_SCHEDULE or omp_set_schedule)"
    return text


def _directive_of(report, region):
    if region is not None:
        return region.directive
    from .directives import parse  # a cached function has no front-end regions
    from .errors import PyompError
    try:
        return parse(report["directive"])
    except PyompError:
        return None


def _function_ir(modules, name):
    pattern = re.compile(r'^define [^\n]*@"?' + re.escape(name) + r'"?\(.*?^}', re.M | re.S)
    for _, text in modules:
        match = pattern.search(text)
        if match:
            return match.group(0)
    return None


def explain(fn, ir=False):
    """A readable report of the regions of every compiled signature of `fn` (a str).

    Compile the function first (call it, or give pyomp.njit a signature).
    """
    if not hasattr(fn, "overloads"):
        raise TypeError("pyomp.explain expects a function compiled by pyomp.njit")
    if not fn.overloads:
        return f"{fn.__name__}: not compiled yet; call it once (or give njit a signature)"
    lines = []
    for sig, regions, modules, front in _regions(fn):
        lines.append(f"{fn.__name__}{sig}: {len(regions)} OpenMP region(s)")
        for r in sorted(regions, key=lambda r: (r["line"], r.get("id") or 0)):
            where = f"outlined as {r['outlined']}" if r["outlined"] else "runs in place"
            lines.append(f"  line {r['line']}: {r['directive']!r} -> {r['construct']} {where}")
            width = max((len(v[0]) for v in r["sharing"]), default=0)
            for name, attr, why in r["sharing"]:
                lines.append(f"    {name:<{width}}  {attr:<12} {why}")
            region = front.get(r.get("id"))
            for name, how in getattr(region, "device_plan", None) or ():
                lines.append(f"    {name:<{width}}  map {how}")
            if r["construct"] == "for":
                lines.append(f"    schedule: {schedule_text(_directive_of(r, region))}")
            for warning in getattr(region, "race_warnings", None) or ():
                lines.append(f"    race warning: {warning.message}")
            if r.get("can_raise"):
                lines.append("    exceptions raised in the region propagate after it")
            if ir:
                text = _function_ir(modules, r["outlined"])
                if text:
                    lines.extend("    | " + line for line in text.splitlines())
    return "\n".join(lines)
