//! Device buffers, owned through Numba's memory manager (NRT) when Python registered it:
//! the view of a device copy that compiled code gets holds a reference to the buffer's
//! MemInfo, so a view that outlives its target region (`b = a[1:]` in the region, used
//! after it) keeps the buffer alive instead of pointing at freed memory (as a device
//! pointer would dangle on a GPU, but here without the crash). The present table and a
//! construct's own copies hold one reference each; the buffer goes with the last one.
//!
//! `cargo test` runs without Python: then buffers come from a small allocator of this
//! module with the same first field (the reference count) and release protocol.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// NRT_MemInfo_alloc_safe_aligned(size, align) -> MemInfo* (its bytes 0xCB: Numba's mark of
/// memory nothing wrote, so device memory no map copied to is recognisably garbage, the
/// same on every run), NRT_MemInfo_data(MemInfo*) -> data, NRT_MemInfo_release(MemInfo*).
#[derive(Clone, Copy)]
struct Nrt {
    alloc: unsafe extern "C" fn(usize, u32) -> *mut u8,
    data: unsafe extern "C" fn(*mut u8) -> *mut u8,
    release: unsafe extern "C" fn(*mut u8),
}

static NRT: OnceLock<Nrt> = OnceLock::new();

/// Registers Numba's NRT entry points (their addresses, from `numba.core.runtime`).
///
/// # Safety
/// The addresses are those functions of the running process.
pub unsafe fn register_nrt(alloc: usize, data: usize, release: usize) {
    let _ = NRT.set(Nrt {
        alloc: std::mem::transmute::<usize, unsafe extern "C" fn(usize, u32) -> *mut u8>(alloc),
        data: std::mem::transmute::<usize, unsafe extern "C" fn(*mut u8) -> *mut u8>(data),
        release: std::mem::transmute::<usize, unsafe extern "C" fn(*mut u8)>(release),
    });
}

/// One reference to a device buffer: its MemInfo and data.
#[derive(Debug)]
pub struct Buffer {
    meminfo: *mut u8,
    data: *mut u8,
}

// SAFETY: a MemInfo's reference count is atomic; the data is plain memory.
unsafe impl Send for Buffer {}

const ALIGN: u32 = 64;

impl Buffer {
    /// A new buffer of `size` bytes (its contents undefined, as on a device: 0xCB bytes).
    pub fn new(size: usize) -> Buffer {
        let size = size.max(1);
        match NRT.get() {
            // SAFETY: Numba's allocator; it aborts with a message when memory runs out
            Some(nrt) => unsafe {
                let meminfo = (nrt.alloc)(size, ALIGN);
                Buffer {
                    meminfo,
                    data: (nrt.data)(meminfo),
                }
            },
            None => fallback::new(size),
        }
    }

    pub fn data(&self) -> *mut u8 {
        self.data
    }

    /// Takes over a reference made by share() (to release it).
    pub fn adopt(meminfo: *mut u8) -> Buffer {
        Buffer {
            meminfo,
            data: std::ptr::null_mut(),
        }
    }

    /// Another reference, for compiled code (a view of the buffer owns it): the MemInfo.
    pub fn share(&self) -> *mut u8 {
        // SAFETY: the reference count is the MemInfo's first field, a size_t NRT updates
        // atomically (NRT_incref compiles to the same atomicrmw add)
        unsafe { AtomicUsize::from_ptr(self.meminfo as *mut usize) }
            .fetch_add(1, Ordering::Relaxed);
        self.meminfo
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        match NRT.get() {
            // SAFETY: this Buffer owned one reference
            Some(nrt) => unsafe { (nrt.release)(self.meminfo) },
            None => fallback::release(self.meminfo),
        }
    }
}

/// For `cargo test`: MemInfo-shaped blocks (reference count first, then the data).
mod fallback {
    use super::Buffer;
    use std::alloc::{alloc, dealloc, Layout};
    use std::sync::atomic::{AtomicUsize, Ordering};

    const HEADER: usize = 64;

    fn layout(size: usize) -> Layout {
        Layout::from_size_align(HEADER + size, 64).expect("a buffer size")
    }

    pub fn new(size: usize) -> Buffer {
        // SAFETY: a non-zero size; the header holds the count and the size
        unsafe {
            let block = alloc(layout(size));
            assert!(!block.is_null(), "out of memory for a device buffer");
            *(block as *mut usize) = 1;
            *(block as *mut usize).add(1) = size;
            std::ptr::write_bytes(block.add(HEADER), 0xCB, size);
            Buffer {
                meminfo: block,
                data: block.add(HEADER),
            }
        }
    }

    pub fn release(meminfo: *mut u8) {
        // SAFETY: a block from new(), with a count of at least one
        unsafe {
            let count = AtomicUsize::from_ptr(meminfo as *mut usize);
            if count.fetch_sub(1, Ordering::AcqRel) == 1 {
                let size = *(meminfo as *mut usize).add(1);
                dealloc(meminfo, layout(size));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_reference_keeps_the_buffer_alive() {
        let b = Buffer::new(16);
        let data = b.data();
        unsafe { *data = 7 };
        let view = b.share();
        drop(b);
        assert_eq!(unsafe { *data }, 7); // still alive through the view's reference
        drop(Buffer::adopt(view));
    }
}
