//! Spawning child processes that cannot outlive the test process.
//!
//! On Linux a child is spawned with `PR_SET_PDEATHSIG = SIGKILL`. That signal fires when the
//! *thread* that forked the child exits, not the process: a broker spawned from a short-lived
//! thread (a `spawn_blocking` worker, a helper thread) would be killed under the test's feet.
//! So every child is forked by one spawner thread that lives as long as the process; when the
//! process dies (panic, SIGKILL from a timeout, Ctrl-C) that thread dies and takes the children.

use std::io;
use std::process::{Child, Command};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Mutex, OnceLock};

type Reply = Sender<io::Result<Child>>;

static SPAWNER: OnceLock<Mutex<Sender<(Command, Reply)>>> = OnceLock::new();

/// Spawns `cmd` from the process-lifetime spawner thread, with the parent-death signal set.
pub(crate) fn spawn_tied_to_process(cmd: Command) -> io::Result<Child> {
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = channel::<(Command, Reply)>();
        // Not joined on purpose: it must run until the process exits.
        let _detached = std::thread::Builder::new()
            .name("testkit-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    prepare(&mut cmd);
                    let _ = reply.send(cmd.spawn());
                }
            });
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = channel();
    spawner
        .lock()
        .map_err(|_| io::Error::other("spawner lock poisoned"))?
        .send((cmd, reply_tx))
        .map_err(|_| io::Error::other("spawner thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| io::Error::other("spawner thread dropped the request"))?
}

#[cfg(target_os = "linux")]
fn prepare(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs between fork and exec and only calls async-signal-safe
    // functions (prctl, getppid); it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect: then nobody would kill us.
            if libc::getppid() != parent {
                return Err(io::Error::other("parent exited during spawn"));
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn prepare(_cmd: &mut Command) {
    // Elsewhere only Drop kills the child.
}
