//! The regions of one function as a tree: which region encloses which, the team (innermost
//! parallel region) of each, and what each holds that the lowering of an enclosing region
//! must know (barriers, tasks, cancellation). lower/mod.rs lowers the tree innermost first.
//!
//! Invariant: the sets of blocks (`sets`) and shapes are those carved before any region is
//! lowered; nesting is decided on them once, since lowering changes the blocks.

use crate::error::PassResult;
use crate::ir::{self, Block, Value};
use crate::markers::MarkedRegion;
use crate::raise::TeamErrors;
use crate::region::{self, Shape};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Parallel,
    For,
    /// barrier, master, masked, single, ...
    InPlace,
    /// an explicit task: outlined, created with __kmpc_omp_task
    Task,
    /// a taskloop: the encountering thread creates a task per chunk (in place)
    Taskloop,
}

/// A region of the function being lowered.
pub struct Node {
    pub r: MarkedRegion,
    pub kind: Kind,
    pub shape: Shape,
    /// The innermost enclosing parallel region (whose team runs this one).
    pub team: Option<usize>,
    /// Where allocations that must outlive one thread's run of the region go: the caller's
    /// side of the nearest enclosing outlined region (or the function's entry block).
    pub alloc_block: Block,
    pub errors: Option<TeamErrors>,
    /// Whether constructs inside (lowered before) wait at barriers.
    pub has_barriers: bool,
    /// Whether a `cancel parallel` or `cancellation point parallel` inside may send a
    /// thread to the region's end.
    pub cancels: bool,
    /// Whether tasks are created in the region (its own code, not a nested team's): a
    /// parallel region, or a worksharing loop (which then waits for them, see lower_for).
    pub has_tasks: bool,
    /// Whether the region lies inside a task of this function.
    pub in_task: bool,
}

/// The regions of a function and how they nest.
pub struct Tree {
    pub nodes: Vec<Node>,
    /// Each region's blocks and shape as carved, before any lowering.
    sets: Vec<Vec<Block>>,
    shapes: Vec<Shape>,
}

/// The kind of lowering region `r` gets.
fn kind_of(r: &MarkedRegion) -> PassResult<Kind> {
    Ok(match r.payload.construct.as_str() {
        // a league of teams is forked like a team (parallel.rs: __kmpc_fork_teams)
        "parallel" | "teams" => Kind::Parallel,
        "for" => Kind::For,
        "barrier" | "master" | "masked" | "single" | "critical" | "atomic" | "flush"
        | "ordered" | "cancel" | "cancellation point" | "taskwait" | "taskyield" | "taskgroup"
        | "target" | "target data" => Kind::InPlace,
        "task" => Kind::Task,
        "taskloop" => Kind::Taskloop,
        other => return Err(r.error(format!("the pass cannot lower '{other}' yet"))),
    })
}

impl Tree {
    /// Carves each region of `func` and works out how they nest.
    pub fn build(func: Value, regions: Vec<MarkedRegion>) -> PassResult<Tree> {
        let kinds = regions
            .iter()
            .map(kind_of)
            .collect::<PassResult<Vec<_>>>()?;
        let shapes: Vec<Shape> = regions
            .iter()
            .map(region::carve)
            .collect::<PassResult<_>>()?;
        let sets: Vec<Vec<Block>> = regions
            .iter()
            .zip(&shapes)
            .map(|(r, s)| region::blocks(r, s))
            .collect::<PassResult<_>>()?;
        for ((r, shape), set) in regions.iter().zip(&shapes).zip(&sets) {
            region::check_shape(r, shape, set)?;
        }
        let entry = ir::blocks(func)[0];
        let nodes = regions
            .into_iter()
            .zip(kinds)
            .enumerate()
            .map(|(i, (r, kind))| Node {
                r,
                kind,
                shape: shapes[i],
                team: None,
                alloc_block: entry,
                errors: None,
                has_barriers: false,
                cancels: false,
                has_tasks: false,
                in_task: false,
            })
            .collect();
        let mut tree = Tree {
            nodes,
            sets,
            shapes,
        };
        tree.find_teams(entry);
        tree.mark_loops_with_tasks();
        tree.mark_cancelling_teams();
        Ok(tree)
    }

    /// The regions enclosing region `i`: region j encloses region i when i's enter marker
    /// lies in j's blocks.
    pub fn enclosing(&self, i: usize) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&j| j != i && self.sets[j].contains(&self.shapes[i].pre()))
            .collect()
    }

    /// The innermost of `candidates` (enclosing one region): the one with fewest blocks.
    pub fn innermost(&self, candidates: impl Iterator<Item = usize>) -> Option<usize> {
        candidates.min_by_key(|&j| self.sets[j].len())
    }

    /// The order regions are lowered in: innermost first.
    pub fn innermost_first(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.nodes.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(self.enclosing(i).len()));
        order
    }

    /// Each region's team, where its allocations go, whether it is inside a task; a team
    /// that creates tasks.
    fn find_teams(&mut self, entry: Block) {
        for i in 0..self.nodes.len() {
            let around = self.enclosing(i);
            let team = self.innermost(
                around
                    .iter()
                    .copied()
                    .filter(|&j| self.nodes[j].kind == Kind::Parallel),
            );
            let node = &mut self.nodes[i];
            node.team = team;
            node.alloc_block = team.map_or(entry, |j| self.shapes[j].entry);
            let in_task = around
                .iter()
                .any(|&j| matches!(self.nodes[j].kind, Kind::Task | Kind::Taskloop));
            self.nodes[i].in_task = in_task;
            if let (Some(j), Kind::Task | Kind::Taskloop) = (team, self.nodes[i].kind) {
                self.nodes[j].has_tasks = true;
            }
        }
    }

    /// The worksharing loops around each task, up to its team's region, create tasks.
    fn mark_loops_with_tasks(&mut self) {
        for i in 0..self.nodes.len() {
            if !matches!(self.nodes[i].kind, Kind::Task | Kind::Taskloop) {
                continue;
            }
            let team = self.nodes[i].team;
            let inside_team =
                |j: usize| team.is_none_or(|t| self.sets[t].contains(&self.shapes[j].pre()));
            let loops: Vec<usize> = self
                .enclosing(i)
                .into_iter()
                .filter(|&j| self.nodes[j].kind == Kind::For && inside_team(j))
                .collect();
            for j in loops {
                self.nodes[j].has_tasks = true;
            }
        }
    }

    /// Whether a cancel construct may send a thread of a parallel region to its end.
    fn mark_cancelling_teams(&mut self) {
        for i in 0..self.nodes.len() {
            if self.nodes[i].kind != Kind::Parallel {
                continue;
            }
            self.nodes[i].cancels = self.nodes.iter().any(|n| {
                let p = &n.r.payload;
                n.team == Some(i)
                    && matches!(p.construct.as_str(), "cancel" | "cancellation point")
                    && p.clauses.cancel.as_deref().unwrap_or("parallel") == "parallel"
            });
        }
    }

    /// The failure record of the team region `j` (lowered before the regions inside it use it).
    pub fn team_record(&self, j: usize) -> TeamErrors {
        self.nodes[j].errors.expect("parallel has a record")
    }
}
