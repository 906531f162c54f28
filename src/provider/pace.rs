//! Reading an answer at the pace of the screen that shows it.
//!
//! A model at a human pace sends one small packet per token, 20-50 a second, and each packet
//! wakes the process: on a virtual machine a wake-up costs more CPU than everything charla does
//! with the token. The chat screen shows an answer at its own cadence (a frame every 80 ms), so
//! it sets a [`Pace`] after each frame to when the next one is due, and the stream waits until
//! then before it reads the body again: the tokens that came meanwhile are all taken at once.
//!
//! On Linux the socket is also told not to wake the process for them: while the stream waits,
//! its `SO_RCVLOWAT` (the bytes a socket must hold before it reads as ready) is raised to 8 KB,
//! and set back to 1 when the wait ends, which makes the kernel report the bytes that came
//! meanwhile at once. A server fast enough to send 8 KB within a frame ends the wait early (the
//! socket is watched through a duplicate of its descriptor), so it is never kept waiting on a
//! full buffer; one that sends more than 64 KB between two frames is read as it comes from
//! then on. Elsewhere the packets still wake the process, but nothing reads them until the
//! frame. The end of the body (the server closing) wakes it whatever the mark.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// When a front end next wants more of the answers it streams (shared by all of them).
#[derive(Debug, Default)]
pub struct Pace(AtomicU64);

impl Pace {
    fn base() -> Instant {
        static BASE: OnceLock<Instant> = OnceLock::new();
        *BASE.get_or_init(Instant::now)
    }

    /// The body is not read again before `t`.
    pub fn hold_until(&self, t: Instant) {
        let ns = t.saturating_duration_since(Self::base()).as_nanos() as u64;
        self.0.store(ns.max(1), Ordering::Relaxed);
    }

    /// When reading may go on, if that is later than now.
    pub fn until(&self) -> Option<Instant> {
        let ns = self.0.load(Ordering::Relaxed);
        let t = Self::base() + Duration::from_nanos(ns);
        (ns > 0 && t > Instant::now()).then_some(t)
    }
}

/// The next item of `s` if it is there already, or once the tasks that were woken to bring it
/// have run (one yield to the scheduler: a body hands over what it has read a chunk per turn of
/// its connection's task); `None` when `s` has to wait for more bytes.
pub async fn ready_now<S: futures::Stream + Unpin>(s: &mut S) -> Option<Option<S::Item>> {
    use futures::{FutureExt, StreamExt};
    if let Some(n) = s.next().now_or_never() {
        return Some(n);
    }
    tokio::task::yield_now().await;
    s.next().now_or_never()
}

/// Bytes taken in one drain above which a stream stops waiting for the pace: a server that
/// sends this much in a frame's time (about 4,000 tokens a second) would soon fill the socket's
/// buffer and be held back by it, and each wake-up carries plenty then anyway.
pub const FLOOD: usize = 64 * 1024;

/// A stream's reading at the pace: waits for it when the stream has caught up with the server,
/// then drains what came meanwhile.
pub struct Reader<'a> {
    pace: &'a Pace,
    quiet: Quiet,
    draining: bool,
    /// Bytes taken in the current drain.
    drained: usize,
    /// A drain passed [`FLOOD`]: the rest is read as it comes.
    off: bool,
}

impl<'a> Reader<'a> {
    /// Reading at `pace`, the connection's socket found by its addresses (for [`Quiet`]).
    pub fn new(pace: &'a Pace, addrs: Option<(SocketAddr, SocketAddr)>) -> Self {
        Reader {
            pace,
            quiet: Quiet::new(addrs),
            draining: false,
            drained: 0,
            off: false,
        }
    }

    /// The next item of `s` (`size` says how many bytes of the body it took): at once while
    /// draining or while the stream is behind the server; otherwise after the pace's wait, when
    /// one is set.
    pub async fn next<S, T>(&mut self, s: &mut S, size: impl Fn(&T) -> usize) -> Option<T>
    where
        S: futures::Stream<Item = T> + Unpin,
    {
        loop {
            if self.draining {
                match ready_now(s).await {
                    Some(n) => {
                        self.drained += n.as_ref().map_or(0, &size);
                        return n;
                    }
                    None => {
                        self.draining = false;
                        if self.drained >= FLOOD {
                            self.off = true;
                            crate::log::line(format!(
                                "pace off: {} KB came between two frames",
                                self.drained / 1024
                            ));
                        }
                        self.drained = 0;
                    }
                }
            }
            if !self.off
                && let Some(t) = self.pace.until()
            {
                // Bytes already there (the stream is behind the server): no wait.
                if let Some(n) = ready_now(s).await {
                    return n;
                }
                self.quiet.wait_until(t).await;
                self.draining = true;
                continue;
            }
            return futures::StreamExt::next(s).await;
        }
    }
}

/// The stream's socket, found by its two addresses, whose wake-ups can be held back.
pub struct Quiet {
    #[cfg(target_os = "linux")]
    socket: Option<linux::Socket>,
}

impl Quiet {
    /// The socket of the connection that goes from `local` to `remote` (`None` addresses, or a
    /// system without the mechanism: nothing is held back).
    pub fn new(addrs: Option<(SocketAddr, SocketAddr)>) -> Self {
        #[cfg(target_os = "linux")]
        {
            Quiet {
                socket: addrs.and_then(|(l, r)| linux::Socket::find(l, r)),
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = addrs;
            Quiet {}
        }
    }

    /// Whether this socket's wake-ups can be held back.
    pub fn works(&self) -> bool {
        #[cfg(target_os = "linux")]
        {
            self.socket.is_some()
        }
        #[cfg(not(target_os = "linux"))]
        {
            false
        }
    }

    /// Waits until `t` without being woken by the bytes that come meanwhile, unless they
    /// pass the mark (a fast server, which is then not kept waiting on a full buffer).
    pub async fn wait_until(&mut self, t: Instant) {
        #[cfg(target_os = "linux")]
        if let Some(s) = &mut self.socket
            && s.hold()
        {
            tokio::select! {
                _ = tokio::time::sleep_until(t) => {}
                _ = s.filled() => {}
            }
            s.release();
            return;
        }
        tokio::time::sleep_until(t).await;
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::net::SocketAddr;
    use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
    use tokio::io::unix::AsyncFd;

    /// The mark during a wait: a server that sends this much before the frame (a fast one)
    /// ends the wait early, long before it could fill the socket's buffer and be held back.
    const HIGH: libc::c_int = 8 * 1024;

    /// A socket of this process (a duplicate of its descriptor: it stays the same socket
    /// whatever becomes of the original number), registered to be woken when it holds
    /// [`HIGH`] bytes.
    pub struct Socket {
        fd: AsyncFd<OwnedFd>,
        held: bool,
    }

    impl Socket {
        /// The TCP connection from `local` to `remote`, among this process's open descriptors.
        pub fn find(local: SocketAddr, remote: SocketAddr) -> Option<Socket> {
            let dir = std::fs::read_dir("/proc/self/fd").ok()?;
            let fd = dir
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<RawFd>().ok())
                .find(|&fd| addrs(fd).is_some_and(|a| same(a, (local, remote))))?;
            // SAFETY: `fd` is open (it was just read from /proc/self/fd and answered
            // getsockname); it is only borrowed for the duplication, on this thread.
            let dup = unsafe { BorrowedFd::borrow_raw(fd) }
                .try_clone_to_owned()
                .ok()?;
            // The duplicate is checked too: the number could have been closed and reused
            // between the look-up and the duplication.
            addrs(dup.as_raw_fd()).filter(|&a| same(a, (local, remote)))?;
            // SAFETY: an OwnedFd stays open and the same descriptor for as long as the AsyncFd
            // that owns it.
            let fd = unsafe { AsyncFd::register_with_interest(dup, tokio::io::Interest::READABLE) }
                .ok()?;
            Some(Socket { fd, held: false })
        }

        /// Raises the low-water mark; whether it was raised.
        pub fn hold(&mut self) -> bool {
            self.held = set_lowat(self.fd.as_raw_fd(), HIGH);
            if self.held {
                // Readiness left from before the hold (the last release reported bytes) is
                // dropped; bytes now past the mark give a new event, so it is not lost.
                use futures::FutureExt;
                if let Some(Ok(mut g)) = self.fd.readable().now_or_never() {
                    g.clear_ready();
                }
            }
            self.held
        }

        /// Until the socket holds [`HIGH`] bytes (never, when it is not held).
        pub async fn filled(&self) {
            if !self.held {
                return std::future::pending().await;
            }
            match self.fd.readable().await {
                Ok(mut g) => g.clear_ready(),
                Err(_) => std::future::pending().await,
            }
        }

        /// Back to 1: the kernel then reports at once the bytes that came during the hold.
        pub fn release(&mut self) {
            if std::mem::take(&mut self.held) {
                set_lowat(self.fd.as_raw_fd(), 1);
            }
        }
    }

    impl Drop for Socket {
        /// A connection that goes back to the pool wakes for its next answer as usual.
        fn drop(&mut self) {
            self.release();
        }
    }

    /// The same two endpoints (addresses and ports; an IPv6 flow label or scope aside).
    fn same(a: (SocketAddr, SocketAddr), b: (SocketAddr, SocketAddr)) -> bool {
        let key = |s: SocketAddr| (s.ip(), s.port());
        key(a.0) == key(b.0) && key(a.1) == key(b.1)
    }

    fn set_lowat(fd: RawFd, n: libc::c_int) -> bool {
        // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from a live local.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVLOWAT,
                (&n as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            ) == 0
        }
    }

    /// The local and remote addresses of socket `fd` (None: not a connected IP socket).
    fn addrs(fd: RawFd) -> Option<(SocketAddr, SocketAddr)> {
        Some((name(fd, libc::getsockname)?, name(fd, libc::getpeername)?))
    }

    type NameFn =
        unsafe extern "C" fn(libc::c_int, *mut libc::sockaddr, *mut libc::socklen_t) -> libc::c_int;

    fn name(fd: RawFd, f: NameFn) -> Option<SocketAddr> {
        // SAFETY: the storage is large enough for any address and `len` says how large it is;
        // the call writes at most `len` bytes into it and sets `len` to what it wrote.
        let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        if unsafe {
            f(
                fd,
                (&mut ss as *mut libc::sockaddr_storage).cast(),
                &mut len,
            )
        } != 0
        {
            return None;
        }
        match ss.ss_family as libc::c_int {
            libc::AF_INET => {
                // SAFETY: the family says the storage holds a sockaddr_in.
                let a =
                    unsafe { &*(&ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
                Some(SocketAddr::from((
                    u32::from_be(a.sin_addr.s_addr).to_be_bytes(),
                    u16::from_be(a.sin_port),
                )))
            }
            libc::AF_INET6 => {
                // SAFETY: the family says the storage holds a sockaddr_in6.
                let a = unsafe {
                    &*(&ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
                };
                Some(SocketAddr::from((
                    a.sin6_addr.s6_addr,
                    u16::from_be(a.sin6_port),
                )))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_pace_holds_until_its_time_and_not_after() {
        let p = Pace::default();
        assert_eq!(p.until(), None, "a pace never set holds nothing");
        let t = Instant::now() + Duration::from_secs(60);
        p.hold_until(t);
        let until = p.until().expect("held");
        assert!(until.saturating_duration_since(t) < Duration::from_millis(1));
        p.hold_until(Instant::now() - Duration::from_millis(1));
        assert_eq!(p.until(), None, "a time that has passed holds nothing");
    }

    /// The mechanism itself, on a real TCP connection: while the socket is held, bytes that
    /// come do not make it readable; at the end of the wait they are reported at once, and a
    /// dropped hold leaves the socket as it was.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_held_socket_is_not_woken_by_bytes_until_the_wait_ends() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let mut client = tokio::net::TcpStream::connect(listener.local_addr().expect("addr"))
            .await
            .expect("connect");
        let (mut server, _) = listener.accept().await.expect("accept");
        let addrs = (
            client.local_addr().expect("local"),
            client.peer_addr().expect("peer"),
        );
        let mut quiet = Quiet::new(Some(addrs));
        assert!(
            quiet.works(),
            "the connection's socket was not found by its addresses"
        );
        assert!(!Quiet::new(None).works());

        // Held: the bytes the server sends during the wait do not wake the reader.
        {
            let wait = quiet.wait_until(Instant::now() + Duration::from_millis(300));
            tokio::pin!(wait);
            let sent = async {
                server.write_all(b"one").await.expect("write");
                tokio::time::sleep(Duration::from_millis(150)).await;
            };
            tokio::select! {
                _ = &mut wait => panic!("the wait ended early"),
                _ = sent => {}
            }
            let early = tokio::time::timeout(Duration::from_millis(50), client.readable()).await;
            assert!(early.is_err(), "the socket read as ready while it was held");
            wait.await;
        }
        // Released: readable at once, with everything that came.
        tokio::time::timeout(Duration::from_secs(5), client.readable())
            .await
            .expect("the held bytes were not reported when the wait ended")
            .expect("readable");
        let mut buf = [0u8; 16];
        let n = client.read(&mut buf).await.expect("read");
        assert_eq!(&buf[..n], b"one");

        // A fast server: 8 KB or more end the wait at once.
        {
            let started = Instant::now();
            let wait = quiet.wait_until(Instant::now() + Duration::from_secs(60));
            let fill = async {
                server.write_all(&[b'x'; 20_000]).await.expect("write");
                std::future::pending::<()>().await
            };
            let ended = tokio::time::timeout(Duration::from_secs(10), async {
                tokio::select! {
                    _ = wait => {}
                    _ = fill => {}
                }
            })
            .await;
            assert!(ended.is_ok(), "a filling socket did not end the wait");
            assert!(started.elapsed() < Duration::from_secs(10));
            let mut got = 0;
            while got < 20_000 {
                got += client.read(&mut [0u8; 4096]).await.expect("read");
            }
        }

        // A wait given up half way (the stream cancelled) leaves the socket held until the
        // hold is dropped; then bytes wake the reader as usual.
        {
            let wait = quiet.wait_until(Instant::now() + Duration::from_secs(60));
            let _ = tokio::time::timeout(Duration::from_millis(20), wait).await;
        }
        drop(quiet);
        server.write_all(b"two").await.expect("write");
        tokio::time::timeout(Duration::from_secs(5), client.readable())
            .await
            .expect("a released socket was not woken")
            .expect("readable");
    }

    #[tokio::test]
    async fn ready_now_takes_what_is_there_and_no_more() {
        let (tx, rx) = futures::channel::mpsc::unbounded::<u32>();
        let mut rx = rx;
        tx.unbounded_send(1).expect("send");
        assert_eq!(ready_now(&mut rx).await, Some(Some(1)));
        assert_eq!(ready_now(&mut rx).await, None, "nothing there: no waiting");
        drop(tx);
        assert_eq!(
            ready_now(&mut rx).await,
            Some(None),
            "the end is there at once"
        );
    }
}
