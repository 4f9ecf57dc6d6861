//! pyomp's host offload devices: CPU devices with a data environment of their own, so
//! `map`, `target data`, `enter/exit data` and `update` copy exactly as they would to a
//! GPU, and a program that forgets `map(from: a)` sees the host's old values.
//!
//! Devices 0..HOST_DEVICES are host offload devices (as libomptarget's generic-ELF plugin
//! numbers them, which PyOMP runs on); device HOST_DEVICES is the initial device (the host
//! itself: `map` moves nothing). A target region runs on the encountering thread, on the
//! device copies (the Python side rebinds each mapped array to a view of its device
//! buffer); this module keeps the present tables and each construct's record of what to
//! undo at its end. Called by compiled code (pyomp.devices' intrinsics) and ctypes.

pub mod buffer;
pub mod present;

use buffer::Buffer;
use present::{MapError, PresentTable, Span};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// The number of host offload devices.
pub const HOST_DEVICES: i32 = 4;

/// Map-type bits, shared with numba_ext/pyomp/devices.py.
pub const TO: i32 = 1;
pub const FROM: i32 = 2;
pub const ALWAYS: i32 = 4;
pub const DELETE: i32 = 8;
/// `map(present, ...)`: an error if the item is not present.
pub const PRESENT: i32 = 16;
/// A copy of the construct's own, outside the present table (a target's private or
/// firstprivate array; with TO it starts with the host's values).
pub const OWN_COPY: i32 = 32;

fn tables() -> &'static [Mutex<PresentTable>] {
    static TABLES: OnceLock<Vec<Mutex<PresentTable>>> = OnceLock::new();
    TABLES.get_or_init(|| {
        (0..HOST_DEVICES)
            .map(|_| Mutex::new(PresentTable::default()))
            .collect()
    })
}

/// Whether `device` is the host (the initial device, as this module numbers it).
fn is_host(device: i32) -> bool {
    device == HOST_DEVICES
}

/// The present table of offload device `device` (None: the initial device, or no device).
fn table(device: i32) -> Option<MutexGuard<'static, PresentTable>> {
    let t = tables().get(usize::try_from(device).ok()?)?;
    // a panic while holding the lock cannot leave the table half-updated in a way that
    // matters more than refusing every later map: keep going with what is there
    Some(t.lock().unwrap_or_else(|e| e.into_inner()))
}

/// What a target or target data construct undoes at its end.
struct Record {
    device: i32,
    /// The default-device ICV to restore (pyomp marks "inside a target region" in it).
    saved_icv: i32,
    /// (present-table key, map bits, the list item's host bytes) per list item, in
    /// mapping order.
    exits: Vec<(usize, i32, (usize, usize))>,
    /// The construct's own copies (private / firstprivate arrays).
    own: Vec<Buffer>,
}

/// Starts a target or target data construct on `device`; returns its record.
#[no_mangle]
pub extern "C" fn pyomp_target_begin(device: i32, saved_icv: i32) -> i64 {
    let record = Box::new(Record {
        device,
        saved_icv,
        exits: Vec::new(),
        own: Vec::new(),
    });
    Box::into_raw(record) as i64
}

/// Maps host bytes [begin, end) of the array at [alloc_begin, alloc_end) for the construct
/// of `record`: returns the device address of `alloc_begin` (the array's start), or a
/// negative MapError; `*meminfo` gets a reference to the device buffer for the view of it
/// (0 on the host, where the view is the array itself).
///
/// # Safety
/// `record` comes from pyomp_target_begin and has not ended; the ranges are a live array;
/// `meminfo` points to an i64.
#[no_mangle]
pub unsafe extern "C" fn pyomp_map_enter(
    record: i64,
    begin: i64,
    end: i64,
    alloc_begin: i64,
    alloc_end: i64,
    bits: i32,
    meminfo: *mut i64,
) -> i64 {
    let rec = &mut *(record as *mut Record);
    let span = span_of(begin, end, alloc_begin, alloc_end);
    *meminfo = 0;
    if bits & OWN_COPY != 0 {
        // (on the host too: a firstprivate array is the region's own wherever it runs)
        let copy = Buffer::new(span.alloc_end - span.alloc_begin);
        if bits & TO != 0 {
            let at = copy.data().add(span.begin - span.alloc_begin);
            std::ptr::copy_nonoverlapping(span.begin as *const u8, at, span.end - span.begin);
        }
        let address = copy.data() as i64;
        *meminfo = copy.share() as i64;
        rec.own.push(copy);
        return address;
    }
    match enter(rec.device, span, bits) {
        Ok(Some((key, address, shared))) => {
            rec.exits.push((key, bits, (span.begin, span.end)));
            *meminfo = shared as i64;
            address as i64
        }
        Ok(None) => alloc_begin,
        Err(e) => e as i64,
    }
}

/// Enters `span` into `device`'s table: (key, device address of the array's start, a
/// reference to the buffer for a view), or None on the host.
fn enter(device: i32, span: Span, bits: i32) -> Result<Option<(usize, usize, *mut u8)>, MapError> {
    let Some(mut t) = table(device) else {
        return if is_host(device) {
            Ok(None)
        } else {
            Err(MapError::NoDevice)
        };
    };
    if bits & PRESENT != 0 && t.find(span.begin, span.end)?.is_none() {
        return Err(MapError::NotPresent);
    }
    let key = t.enter(span, bits & TO != 0, bits & ALWAYS != 0)?;
    let entry = t.entry(key);
    Ok(Some((
        key,
        entry.device_of(span.alloc_begin),
        entry.share(),
    )))
}

fn span_of(begin: i64, end: i64, alloc_begin: i64, alloc_end: i64) -> Span {
    Span {
        begin: begin as usize,
        end: end as usize,
        alloc_begin: alloc_begin as usize,
        alloc_end: alloc_end as usize,
    }
}

/// Ends the construct of `record`: each list item's mapping ends (copied back and freed as
/// its count says), its own copies are freed; returns the ICV to restore.
///
/// # Safety
/// `record` comes from pyomp_target_begin and is ended once.
#[no_mangle]
pub unsafe extern "C" fn pyomp_target_end(record: i64) -> i32 {
    let rec = Box::from_raw(record as *mut Record);
    if let Some(mut t) = table(rec.device) {
        for &(key, bits, item) in rec.exits.iter().rev() {
            t.exit(key, item, bits & FROM != 0, bits & ALWAYS != 0, false);
        }
    }
    rec.saved_icv
}

/// `target enter data`: maps [begin, end) on `device` with no construct to end it; 0 or a
/// negative MapError.
#[no_mangle]
pub extern "C" fn pyomp_enter_data(
    device: i32,
    begin: i64,
    end: i64,
    alloc_begin: i64,
    alloc_end: i64,
    bits: i32,
) -> i64 {
    match enter(device, span_of(begin, end, alloc_begin, alloc_end), bits) {
        Ok(Some((_, _, shared))) => {
            drop(Buffer::adopt(shared)); // (no view: the reference goes back)
            0
        }
        Ok(None) => 0,
        Err(e) => e as i64,
    }
}

/// `target exit data`: ends one mapping of [begin, end) (`from`: copied back at zero;
/// `delete`: the count drops to zero); an absent item is skipped. 0 or a MapError.
#[no_mangle]
pub extern "C" fn pyomp_exit_data(device: i32, begin: i64, end: i64, bits: i32) -> i64 {
    let Some(mut t) = table(device) else {
        return if is_host(device) {
            0
        } else {
            MapError::NoDevice as i64
        };
    };
    match t.find(begin as usize, end as usize) {
        Ok(Some(key)) => {
            let (from, always) = (bits & FROM != 0, bits & ALWAYS != 0);
            let item = (begin as usize, end as usize);
            t.exit(key, item, from, always, bits & DELETE != 0);
            0
        }
        Ok(None) => 0,
        Err(e) => e as i64,
    }
}

/// `target update to/from`: copies [begin, end) if present (`to`: host -> device).
#[no_mangle]
pub extern "C" fn pyomp_update_data(device: i32, begin: i64, end: i64, to: i32) -> i64 {
    let Some(mut t) = table(device) else {
        return if is_host(device) {
            0
        } else {
            MapError::NoDevice as i64
        };
    };
    match t.update(begin as usize, end as usize, to != 0) {
        Ok(()) => 0,
        Err(e) => e as i64,
    }
}

/// The device address of host address `host` if [host, end) is present on `device`, else
/// 0 (the host's own address on the host); with `meminfo` not null, `*meminfo` gets a
/// reference to the buffer for a view (use_device_ptr/addr, omp_target_is_present).
///
/// # Safety
/// `meminfo` is null or points to an i64.
#[no_mangle]
pub unsafe extern "C" fn pyomp_device_address(
    device: i32,
    host: i64,
    end: i64,
    meminfo: *mut i64,
) -> i64 {
    if !meminfo.is_null() {
        *meminfo = 0;
    }
    let Some(t) = table(device) else {
        return if is_host(device) { host } else { 0 };
    };
    match t.find(host as usize, end as usize) {
        Ok(Some(key)) => {
            let entry = t.entry(key);
            if !meminfo.is_null() {
                *meminfo = entry.share() as i64;
            }
            entry.device_of(host as usize) as i64
        }
        _ => 0,
    }
}

/// How many times [begin, end) is mapped on `device` (0: absent): the tests' window on
/// the reference counts.
#[no_mangle]
pub extern "C" fn pyomp_present_count(device: i32, begin: i64, end: i64) -> i64 {
    let Some(t) = table(device) else {
        return 0;
    };
    match t.find(begin as usize, end as usize) {
        Ok(Some(key)) => t.refcount(key) as i64,
        _ => 0,
    }
}

extern "C" {
    fn malloc(size: usize) -> *mut u8;
    fn free(ptr: *mut u8);
}

/// omp_target_alloc: `size` bytes on `device` (host memory: the devices are CPUs); 0 for
/// a device that does not exist.
#[no_mangle]
pub extern "C" fn pyomp_target_alloc(size: i64, device: i32) -> i64 {
    if !(0..=HOST_DEVICES).contains(&device) {
        return 0;
    }
    // SAFETY: malloc of a positive size
    unsafe { malloc(size.max(1) as usize) as i64 }
}

/// omp_target_free.
///
/// # Safety
/// `ptr` is 0 or comes from pyomp_target_alloc, freed once.
#[no_mangle]
pub unsafe extern "C" fn pyomp_target_free(ptr: i64, _device: i32) {
    if ptr != 0 {
        free(ptr as *mut u8);
    }
}

/// omp_target_memcpy: every device's memory is this process's, so one memmove; 0, or -1
/// for a device that does not exist.
///
/// # Safety
/// The ranges are valid memory of the caller's.
#[no_mangle]
pub unsafe extern "C" fn pyomp_target_memcpy(
    dst: i64,
    src: i64,
    length: i64,
    dst_offset: i64,
    src_offset: i64,
    dst_device: i32,
    src_device: i32,
) -> i32 {
    let known = 0..=HOST_DEVICES;
    if !known.contains(&dst_device) || !known.contains(&src_device) || length < 0 {
        return -1;
    }
    let (d, s) = (
        (dst + dst_offset) as *mut u8,
        (src + src_offset) as *const u8,
    );
    std::ptr::copy(s, d, length as usize);
    0
}

/// omp_target_is_present: 1 if host bytes [begin, end) are present on `device` (always on
/// the initial device).
#[no_mangle]
pub extern "C" fn pyomp_target_is_present(begin: i64, end: i64, device: i32) -> i32 {
    if is_host(device) {
        return 1;
    }
    if table(device).is_none() {
        return 0; // no such device
    }
    // SAFETY: no reference asked for
    i32::from(unsafe { pyomp_device_address(device, begin, end, std::ptr::null_mut()) } != 0)
}

/// The entry points registered with the JIT (and called through ctypes).
pub fn symbols() -> Vec<(&'static str, usize)> {
    entry_points![
        pyomp_target_begin,
        pyomp_map_enter,
        pyomp_target_end,
        pyomp_enter_data,
        pyomp_exit_data,
        pyomp_update_data,
        pyomp_device_address,
        pyomp_present_count,
        pyomp_target_alloc,
        pyomp_target_free,
        pyomp_target_memcpy,
        pyomp_target_is_present,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(a: &[f64]) -> (i64, i64) {
        let b = a.as_ptr() as i64;
        (b, b + 8 * a.len() as i64)
    }

    #[test]
    fn a_forgotten_from_leaves_the_host_values() {
        // target enter data map(to: a); a += 1 on the host; target exit data map(from: a)
        let mut a = vec![1.0f64; 10];
        let (b, e) = whole(&a);
        assert_eq!(pyomp_enter_data(1, b, e, b, e, TO), 0);
        for x in a.iter_mut() {
            *x += 1.0;
        }
        assert_eq!(pyomp_exit_data(1, b, e, FROM), 0);
        assert!(a.iter().all(|&x| x == 1.0));
    }

    #[test]
    fn a_target_region_maps_on_its_record_and_undoes_at_its_end() {
        let mut a = vec![2.0f64; 4];
        let (b, e) = whole(&a);
        let rec = pyomp_target_begin(2, 7);
        let mut view = 0i64;
        let dev = unsafe { pyomp_map_enter(rec, b, e, b, e, TO | FROM, &mut view) };
        assert!(view != 0);
        assert!(dev > 0 && dev != b);
        assert_eq!(pyomp_present_count(2, b, e), 1);
        unsafe { *(dev as *mut f64).add(3) = 9.0 };
        a[0] = 5.0; // the host's write is overwritten by the copy back
        assert_eq!(unsafe { pyomp_target_end(rec) }, 7);
        assert_eq!(a, [2.0, 2.0, 2.0, 9.0]);
        assert_eq!(pyomp_present_count(2, b, e), 0);
        // the view's reference kept the buffer: still readable after the region
        assert_eq!(unsafe { *(dev as *const f64).add(3) }, 9.0);
        drop(Buffer::adopt(view as *mut u8));
    }

    #[test]
    fn the_initial_device_maps_nothing() {
        let a = vec![0.0f64; 3];
        let (b, e) = whole(&a);
        let rec = pyomp_target_begin(HOST_DEVICES, 0);
        let mut view = 0i64;
        assert_eq!(
            unsafe { pyomp_map_enter(rec, b, e, b, e, TO | FROM, &mut view) },
            b
        );
        assert_eq!(view, 0);
        unsafe { pyomp_target_end(rec) };
        assert_eq!(pyomp_present_count(HOST_DEVICES, b, e), 0);
    }
}
