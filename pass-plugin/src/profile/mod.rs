//! `pyomp.profile`'s native half: the recorder compiled code calls (`record.rs`) and the
//! instrumentation the pass adds to lowered code (`instrument.rs`). Why the events come
//! from pyomp's own code rather than libomp's OMPT interface: docs/design/profiler.md.

pub mod clock;
pub mod instrument;
pub mod record;
