"""What the front-end passes hand on to each other for one function (pyomp.frontend)."""

from dataclasses import dataclass, field


@dataclass(eq=False)
class FrontEnd:
    """The function's Numba IR, which each pass rewrites in place, and what each pass
    found for the passes after it (the pass that sets a field is named beside it)."""

    func_ir: object
    found: list = field(default_factory=list)  # find_withs: (label, EnterWith, call)
    withs: list = field(default_factory=list)  # parse: a Region per `with openmp`, nested
    race_facts: object = None  # replace_constructs: what protects each block (races.Facts)
    scalar_atomics: list = field(default_factory=list)  # replace_constructs: (region, plan)
    declarations: list = field(default_factory=list)  # replace_constructs: threadprivate
    replaced: list = field(default_factory=list)  # replace_constructs: no region to mark
    accumulations: list = field(default_factory=list)  # replace_constructs: reduction updates
    regions: list = field(default_factory=list)  # split: the leaf regions, outer first
    live_map: dict = field(default_factory=dict)  # analyse: block -> live variables
    defined: dict = field(default_factory=dict)  # analyse (rewrite): block -> defined vars
    local_names: set = field(default_factory=set)  # analyse: the function's own variables
    private_to_threads: dict = field(default_factory=dict)  # analyse: threadprivate uses
    loop_of: dict = field(default_factory=dict)  # analyse: id(loop region) -> its nest
    read_after: dict = field(default_factory=dict)  # analyse: id(for) -> loop vars read after
