//! The C++ shim (`shim/c10d.cpp`) in safe Rust: a TCPStore handle, a process-group handle and
//! a pending-work handle. This is the only module with `unsafe`.
#![allow(unsafe_code)]

use std::ffi::{CString, c_char, c_int};
use std::ptr::NonNull;

use tch::Tensor;
use torch_sys::C_tensor;

#[repr(C)]
struct RawStore {
    _private: [u8; 0],
}
#[repr(C)]
struct RawGroup {
    _private: [u8; 0],
}
#[repr(C)]
struct RawWork {
    _private: [u8; 0],
}
#[repr(C)]
struct RawGradSync {
    _private: [u8; 0],
}
#[repr(C)]
struct RawGradOrder {
    _private: [u8; 0],
}

unsafe extern "C" {
    fn amt_has_gloo() -> c_int;
    fn amt_store_new(
        host: *const c_char,
        port: c_int,
        is_server: c_int,
        world: c_int,
        timeout_ms: i64,
        err: *mut c_char,
        len: usize,
    ) -> *mut RawStore;
    fn amt_store_free(s: *mut RawStore);
    fn amt_store_set(
        s: *mut RawStore,
        key: *const c_char,
        data: *const u8,
        n: usize,
        err: *mut c_char,
        len: usize,
    ) -> c_int;
    fn amt_store_check(
        s: *mut RawStore,
        key: *const c_char,
        present: *mut c_int,
        err: *mut c_char,
        len: usize,
    ) -> c_int;
    fn amt_store_get(
        s: *mut RawStore,
        key: *const c_char,
        data: *mut *mut u8,
        n: *mut usize,
        err: *mut c_char,
        len: usize,
    ) -> c_int;
    fn amt_bytes_free(data: *mut u8);
    fn amt_store_add(
        s: *mut RawStore,
        key: *const c_char,
        delta: i64,
        value: *mut i64,
        err: *mut c_char,
        len: usize,
    ) -> c_int;
    fn amt_pg_new_gloo(
        s: *mut RawStore,
        rank: c_int,
        world: c_int,
        host: *const c_char,
        iface: *const c_char,
        timeout_ms: i64,
        err: *mut c_char,
        len: usize,
    ) -> *mut RawGroup;
    fn amt_pg_free(pg: *mut RawGroup);
    fn amt_pg_allreduce_start(
        pg: *mut RawGroup,
        t: *const C_tensor,
        err: *mut c_char,
        len: usize,
    ) -> *mut RawWork;
    fn amt_work_wait(w: *mut RawWork, err: *mut c_char, len: usize) -> c_int;
    fn amt_pg_broadcast(
        pg: *mut RawGroup,
        t: *const C_tensor,
        root: c_int,
        err: *mut c_char,
        len: usize,
    ) -> c_int;
    fn amt_pg_barrier(pg: *mut RawGroup, err: *mut c_char, len: usize) -> c_int;
    fn amt_pg_allgather(
        pg: *mut RawGroup,
        input: *const C_tensor,
        out: *const C_tensor,
        err: *mut c_char,
        len: usize,
    ) -> c_int;
    fn amt_grad_sync_new(
        pg: *mut RawGroup,
        params: *const *const C_tensor,
        bucket_of: *const i64,
        n: usize,
        n_buckets: usize,
        err: *mut c_char,
        len: usize,
    ) -> *mut RawGradSync;
    fn amt_grad_sync_finish(
        g: *mut RawGradSync,
        scale: f64,
        early: *mut i64,
        err: *mut c_char,
        len: usize,
    ) -> c_int;
    fn amt_grad_sync_free(g: *mut RawGradSync);
    fn amt_grad_order_new(
        params: *const *const C_tensor,
        n: usize,
        err: *mut c_char,
        len: usize,
    ) -> *mut RawGradOrder;
    fn amt_grad_order_take(o: *mut RawGradOrder, out: *mut i64, cap: usize) -> usize;
    fn amt_grad_order_free(o: *mut RawGradOrder);
}

/// Room for a C++ error message.
struct ErrBuf([u8; 2048]);

impl ErrBuf {
    fn new() -> ErrBuf {
        ErrBuf([0; 2048])
    }
    fn ptr(&mut self) -> *mut c_char {
        self.0.as_mut_ptr().cast()
    }
    fn message(&self) -> String {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(self.0.len());
        String::from_utf8_lossy(&self.0[..end]).trim().to_string()
    }
    fn result(&self, rc: c_int) -> Result<(), String> {
        if rc == 0 { Ok(()) } else { Err(self.message()) }
    }
}

fn cstr(s: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("`{s}` holds a NUL byte"))
}

/// Whether the shim was compiled with Gloo.
pub fn has_gloo() -> bool {
    // SAFETY: no arguments; returns a constant.
    unsafe { amt_has_gloo() != 0 }
}

/// A c10d TCPStore (the server, or a client of it).
pub struct Store(NonNull<RawStore>);

// SAFETY: a TCPStore client serialises its own socket use; the handle is only a pointer to it.
unsafe impl Send for Store {}
// SAFETY: as above; c10d's TCPStore is used from several threads in PyTorch too.
unsafe impl Sync for Store {}

impl Store {
    /// Connects to (or, with `server`, starts) the store at `host:port`. With `world > 0`
    /// the server waits until `world` clients have connected.
    pub fn new(
        host: &str,
        port: u16,
        server: bool,
        world: usize,
        timeout_ms: i64,
    ) -> Result<Store, String> {
        let host = cstr(host)?;
        let mut err = ErrBuf::new();
        // SAFETY: `host` and `err` outlive the call; the shim copies what it keeps.
        let p = unsafe {
            amt_store_new(
                host.as_ptr(),
                c_int::from(port),
                c_int::from(server),
                world as c_int,
                timeout_ms,
                err.ptr(),
                err.0.len(),
            )
        };
        NonNull::new(p).map(Store).ok_or_else(|| err.message())
    }

    pub fn set(&self, key: &str, value: &[u8]) -> Result<(), String> {
        let key = cstr(key)?;
        let mut err = ErrBuf::new();
        // SAFETY: the handle is live (owned by self); key, value and err outlive the call.
        let rc = unsafe {
            amt_store_set(
                self.0.as_ptr(),
                key.as_ptr(),
                value.as_ptr(),
                value.len(),
                err.ptr(),
                err.0.len(),
            )
        };
        err.result(rc)
    }

    pub fn check(&self, key: &str) -> Result<bool, String> {
        let key = cstr(key)?;
        let mut err = ErrBuf::new();
        let mut present: c_int = 0;
        // SAFETY: as in `set`; `present` is a valid out pointer.
        let rc = unsafe {
            amt_store_check(
                self.0.as_ptr(),
                key.as_ptr(),
                &mut present,
                err.ptr(),
                err.0.len(),
            )
        };
        err.result(rc).map(|()| present != 0)
    }

    /// The value of `key`, waiting for it up to the store's timeout.
    pub fn get(&self, key: &str) -> Result<Vec<u8>, String> {
        let key = cstr(key)?;
        let mut err = ErrBuf::new();
        let mut data: *mut u8 = std::ptr::null_mut();
        let mut n = 0usize;
        // SAFETY: as in `set`; on success the shim hands us a malloc'ed buffer of `n` bytes.
        let rc = unsafe {
            amt_store_get(
                self.0.as_ptr(),
                key.as_ptr(),
                &mut data,
                &mut n,
                err.ptr(),
                err.0.len(),
            )
        };
        err.result(rc)?;
        // SAFETY: `data` points to `n` initialised bytes that we own until amt_bytes_free.
        let out = unsafe { std::slice::from_raw_parts(data, n).to_vec() };
        // SAFETY: freed once, with the allocator that made it.
        unsafe { amt_bytes_free(data) };
        Ok(out)
    }

    /// Adds `delta` to the counter `key` (created at 0) and returns the new value.
    pub fn add(&self, key: &str, delta: i64) -> Result<i64, String> {
        let key = cstr(key)?;
        let mut err = ErrBuf::new();
        let mut value = 0i64;
        // SAFETY: as in `set`; `value` is a valid out pointer.
        let rc = unsafe {
            amt_store_add(
                self.0.as_ptr(),
                key.as_ptr(),
                delta,
                &mut value,
                err.ptr(),
                err.0.len(),
            )
        };
        err.result(rc).map(|()| value)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // SAFETY: created by amt_store_new, freed once.
        unsafe { amt_store_free(self.0.as_ptr()) }
    }
}

/// A Gloo process group. It keeps its store alive (c10d holds a reference too).
pub struct Group(NonNull<RawGroup>);

// SAFETY: the group is used from one thread at a time (the trainer's); it is moved, not shared.
unsafe impl Send for Group {}

/// A collective in flight.
pub struct Work(NonNull<RawWork>);

impl Group {
    pub fn gloo(
        store: &Store,
        rank: usize,
        world: usize,
        host: &str,
        iface: &str,
        timeout_ms: i64,
    ) -> Result<Group, String> {
        let (host, iface) = (cstr(host)?, cstr(iface)?);
        let mut err = ErrBuf::new();
        // SAFETY: the store handle is live; strings and err outlive the call; c10d keeps its
        // own reference to the store.
        let p = unsafe {
            amt_pg_new_gloo(
                store.0.as_ptr(),
                rank as c_int,
                world as c_int,
                host.as_ptr(),
                iface.as_ptr(),
                timeout_ms,
                err.ptr(),
                err.0.len(),
            )
        };
        NonNull::new(p).map(Group).ok_or_else(|| err.message())
    }

    /// Starts a sum all-reduce of `t` in place. `t` must stay alive (and untouched) until
    /// the returned work has been waited for.
    pub fn all_reduce_start(&self, t: &Tensor) -> Result<Work, String> {
        let mut err = ErrBuf::new();
        // SAFETY: `t.as_ptr()` is a live at::Tensor; the shim copies the handle (a refcount),
        // so the storage stays alive for the collective even if `t` is dropped.
        let p =
            unsafe { amt_pg_allreduce_start(self.0.as_ptr(), t.as_ptr(), err.ptr(), err.0.len()) };
        NonNull::new(p).map(Work).ok_or_else(|| err.message())
    }

    pub fn broadcast(&self, t: &Tensor, root: usize) -> Result<(), String> {
        let mut err = ErrBuf::new();
        // SAFETY: as in `all_reduce_start`; the call blocks until done.
        let rc = unsafe {
            amt_pg_broadcast(
                self.0.as_ptr(),
                t.as_ptr(),
                root as c_int,
                err.ptr(),
                err.0.len(),
            )
        };
        err.result(rc)
    }

    pub fn barrier(&self) -> Result<(), String> {
        let mut err = ErrBuf::new();
        // SAFETY: the handle is live; blocks until done.
        let rc = unsafe { amt_pg_barrier(self.0.as_ptr(), err.ptr(), err.0.len()) };
        err.result(rc)
    }

    /// Gathers `input` of every rank into `out` (shape (world, *input.shape)).
    pub fn all_gather(&self, input: &Tensor, out: &Tensor) -> Result<(), String> {
        let mut err = ErrBuf::new();
        // SAFETY: both tensors are live at::Tensors; blocks until done.
        let rc = unsafe {
            amt_pg_allgather(
                self.0.as_ptr(),
                input.as_ptr(),
                out.as_ptr(),
                err.ptr(),
                err.0.len(),
            )
        };
        err.result(rc)
    }
}

impl Group {
    /// Hooks each of `params` so that its gradient is copied into bucket `bucket_of[i]` as
    /// the backward pass produces it, and full buckets are all-reduced during the pass (in
    /// bucket order). Buckets must be numbered 0.. without gaps, one dtype each.
    pub fn grad_sync(&self, params: &[Tensor], bucket_of: &[i64]) -> Result<GradSync, String> {
        assert_eq!(params.len(), bucket_of.len(), "one bucket per parameter");
        let n_buckets = bucket_of.iter().map(|&b| b + 1).max().unwrap_or(0) as usize;
        let ptrs: Vec<*const C_tensor> = params.iter().map(Tensor::as_ptr).collect();
        let mut err = ErrBuf::new();
        // SAFETY: `ptrs` holds live at::Tensor handles for the call (the shim copies them,
        // taking a reference); `bucket_of` has `params.len()` entries.
        let p = unsafe {
            amt_grad_sync_new(
                self.0.as_ptr(),
                ptrs.as_ptr(),
                bucket_of.as_ptr(),
                params.len(),
                n_buckets,
                err.ptr(),
                err.0.len(),
            )
        };
        NonNull::new(p).map(GradSync).ok_or_else(|| err.message())
    }
}

/// Gradient hooks with their buckets (see [`Group::grad_sync`]); dropping it removes the hooks.
pub struct GradSync(NonNull<RawGradSync>);

impl GradSync {
    /// After a backward pass: sends what the hooks did not, waits, and sets each gradient to
    /// its sum over ranks times `scale`. Returns how many buckets were sent during the pass.
    pub fn finish(&self, scale: f64) -> Result<usize, String> {
        let mut err = ErrBuf::new();
        let mut early = 0i64;
        // SAFETY: `self.0` is live until drop; the shim locks its own state.
        let rc = unsafe {
            amt_grad_sync_finish(self.0.as_ptr(), scale, &mut early, err.ptr(), err.0.len())
        };
        err.result(rc).map(|()| early as usize)
    }
}

impl Drop for GradSync {
    fn drop(&mut self) {
        // SAFETY: created by amt_grad_sync_new, freed once; the shim removes its hooks first.
        unsafe { amt_grad_sync_free(self.0.as_ptr()) }
    }
}

/// Hooks on `params` that note the order in which a backward pass delivers their gradients;
/// dropping it removes them.
pub struct GradOrder(NonNull<RawGradOrder>, usize);

impl GradOrder {
    pub fn watch(params: &[Tensor]) -> Result<GradOrder, String> {
        let ptrs: Vec<*const C_tensor> = params.iter().map(Tensor::as_ptr).collect();
        let mut err = ErrBuf::new();
        // SAFETY: `ptrs` holds live at::Tensor handles for the call (the shim copies them).
        let p = unsafe { amt_grad_order_new(ptrs.as_ptr(), ptrs.len(), err.ptr(), err.0.len()) };
        NonNull::new(p)
            .map(|p| GradOrder(p, params.len()))
            .ok_or_else(|| err.message())
    }

    /// The indices (into the watched parameters) of the gradients delivered so far, in order.
    pub fn seen(&self) -> Vec<usize> {
        let mut out = vec![0i64; self.1];
        // SAFETY: `out` has room for `self.1` indices, the most the hooks can note (one per
        // parameter and pass; a second pass is cut off at the room there is).
        let n = unsafe { amt_grad_order_take(self.0.as_ptr(), out.as_mut_ptr(), out.len()) };
        out.truncate(n.min(self.1));
        out.into_iter().map(|i| i as usize).collect()
    }
}

impl Drop for GradOrder {
    fn drop(&mut self) {
        // SAFETY: created by amt_grad_order_new, freed once; the shim removes its hooks first.
        unsafe { amt_grad_order_free(self.0.as_ptr()) }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // SAFETY: created by amt_pg_new_gloo, freed once.
        unsafe { amt_pg_free(self.0.as_ptr()) }
    }
}

impl Work {
    /// Waits for the collective to finish.
    pub fn wait(self) -> Result<(), String> {
        let mut err = ErrBuf::new();
        let p = self.0.as_ptr();
        std::mem::forget(self);
        // SAFETY: `p` came from amt_pg_allreduce_start; amt_work_wait frees it (exactly once,
        // since `self` was forgotten).
        let rc = unsafe { amt_work_wait(p, err.ptr(), err.0.len()) };
        err.result(rc)
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        // Dropped without waiting (an earlier error): wait so that the handle is freed and
        // the tensor is not written after its owner moves on; the result is moot.
        let mut err = ErrBuf::new();
        // SAFETY: as in `wait`.
        let _ = unsafe { amt_work_wait(self.0.as_ptr(), err.ptr(), err.0.len()) };
    }
}
