"""pyomp's front-end passes over a function's Numba IR, one module each, in the order
pyomp.frontend runs them:

1. find_withs          the `with openmp(...)` blocks; one name per Python variable
2. parse               each directive parsed and checked; its region of blocks, nested
3. nesting             what `loop`, `cancel`, `ordered` bind to; OpenMP's nesting rules
4. replace_constructs  sections -> a loop, atomics -> hardware atomics, simd -> its loop
                       (marked to vectorise); the reductions' accumulations found
5. split               combined constructs -> one region per leaf construct
5b. devices            teams/distribute -> league loops; target constructs -> device calls
6. analyse             liveness, defined variables, loop nests, threadprivate uses
7. data_sharing        each region's data-sharing decisions; race warnings
8. rewrite             worksharing loops and taskloops -> chunk loops; threadprivate
9. place_markers       the enter/exit marker calls the Rust pass reads
10. dels               (just before lowering) no `del` of what the team still uses
"""
