//! The raw parts the reactor hands the kernel: a send's `msghdr` and `iovec`s, and the eventfd
//! other threads wake a shard through.
#![allow(unsafe_code)]

use std::os::fd::RawFd;

use io_uring::{opcode, squeue, types};

/// Slices one send can carry.
pub(crate) const MAX_IOV: usize = 8;

/// The gather list of one send, boxed so its address is stable while the kernel reads it.
pub(crate) struct SendMsg {
    iov: [libc::iovec; MAX_IOV],
    len: usize,
    msg: libc::msghdr,
}

impl SendMsg {
    /// An empty list.
    pub(crate) fn new() -> Box<Self> {
        // SAFETY: msghdr and iovec are plain C structs for which all-zero bytes are valid
        // (null pointers, zero lengths).
        Box::new(unsafe { std::mem::zeroed() })
    }

    /// Fills the list with `slices` (at most [`MAX_IOV`]; the rest is ignored). The slices must
    /// stay valid and unmoved until the send's completion is reaped.
    pub(crate) fn fill<'a>(&mut self, slices: impl Iterator<Item = &'a [u8]>) {
        self.len = 0;
        for s in slices.take(MAX_IOV) {
            self.iov[self.len] = libc::iovec {
                iov_base: s.as_ptr() as *mut libc::c_void,
                iov_len: s.len(),
            };
            self.len += 1;
        }
        self.msg.msg_iov = self.iov.as_mut_ptr();
        self.msg.msg_iovlen = self.len as _;
    }

    /// The entry that sends the list on `fd` (a plain `SEND` for one slice). Never raises
    /// SIGPIPE: a closed peer is `EPIPE`.
    pub(crate) fn entry(&self, fd: RawFd) -> squeue::Entry {
        if self.len == 1 {
            let one = self.iov[0];
            send_entry(fd, one.iov_base as *const u8, one.iov_len)
        } else {
            opcode::SendMsg::new(types::Fd(fd), &self.msg as *const libc::msghdr)
                .flags(libc::MSG_NOSIGNAL as u32)
                .build()
        }
    }
}

/// The entry that sends `data` on `fd` alone, without a gather list; never raises SIGPIPE.
/// The caller keeps `data` in place until the completion is reaped.
pub(crate) fn send_one(fd: RawFd, data: &[u8]) -> squeue::Entry {
    send_entry(fd, data.as_ptr(), data.len())
}

fn send_entry(fd: RawFd, ptr: *const u8, len: usize) -> squeue::Entry {
    // A send takes at most u32::MAX bytes; the completion says how many went and the rest
    // is sent next.
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    opcode::Send::new(types::Fd(fd), ptr, len)
        .flags(libc::MSG_NOSIGNAL)
        .build()
}

/// Reads the eventfd's counter back to zero (nonblocking; nothing to do when already zero).
pub(crate) fn drain_eventfd(fd: RawFd) {
    let mut counter = [0u8; 8];
    // SAFETY: `fd` is the shard's eventfd, open for the reactor's lifetime; `counter` is a
    // writable 8-byte buffer, the size an eventfd read needs.
    let _ = unsafe { libc::read(fd, counter.as_mut_ptr().cast(), counter.len()) };
}

/// Closes a descriptor the socket table owns.
pub(crate) fn close(fd: RawFd) {
    // SAFETY: the socket table owns `fd` and closes it once, after the kernel returned every
    // operation on it; nothing else refers to the number afterwards.
    unsafe { libc::close(fd) };
}
