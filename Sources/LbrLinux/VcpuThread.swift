import CLbrShim
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// A pthread mutex + condition variable on CLOCK_MONOTONIC, for the hand-shakes that wait (the vCPU thread's
/// job queue, `GuestVM`'s command start, `CpuHog`'s start/trigger/stop). Where nothing waits, a `Mutex` is used.
///
/// `@unchecked Sendable`: the pthread objects are heap-allocated once and only touched through
/// pthread calls, which are thread-safe by definition.
final class Monitor: @unchecked Sendable {
    // SAFETY: pthread objects need a stable address: heap-allocated once, initialised in init, destroyed and
    // freed in deinit, touched only through pthread calls in between.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(cond, &attr)
        pthread_condattr_destroy(&attr)
    }

    deinit {
        pthread_cond_destroy(cond); pthread_mutex_destroy(mutex)
        cond.deallocate(); mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }
    func broadcast() { pthread_cond_broadcast(cond) }
    /// Waits (lock held) until signalled.
    func wait() { pthread_cond_wait(cond, mutex) }
    /// Waits (lock held) until signalled or `deadline` (monotonic ns). Returns false on timeout.
    func wait(untilNs deadline: UInt64) -> Bool {
        var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        return pthread_cond_timedwait(cond, mutex, &ts) != ETIMEDOUT
    }
    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        lock(); defer { unlock() }
        return try body()
    }
}

/// The signal used to kick a vCPU out of KVM_RUN (with `kvm_run.immediate_exit`).
let vcpuKickSignal = SIGUSR1

/// Installs a no-op SIGUSR1 handler without SA_RESTART once per process, so a kick makes
/// KVM_RUN return EINTR instead of being restarted or killing the process.
private let installKickHandler: Void = {
    var sa = sigaction()
    sa.__sigaction_handler.sa_handler = { _ in }
    sigemptyset(&sa.sa_mask)
    sa.sa_flags = 0 // no SA_RESTART: KVM_RUN must see EINTR
    _ = sigaction(vcpuKickSignal, &sa, nil)
}()

/// A dedicated pthread that owns one vCPU and runs every vCPU ioctl.
///
/// The thread pins itself with `lbr_pin_self_to_cpu` before anything else (so before the first
/// KVM_RUN), blocks SIGINT/SIGTERM (the process handles those elsewhere) and unblocks the kick
/// signal. Work arrives as jobs executed one at a time; `kick()` interrupts a job inside KVM_RUN.
///
/// `@unchecked Sendable`: all mutable state is guarded by `monitor`; the job closure is only
/// executed on the thread and cleared before its submitter is woken.
final class VcpuThread: @unchecked Sendable {
    /// The thread's name (lbrprobe runs one vCPU, id 0), seen in `top -H` and `/proc/self/task/*/comm`.
    static let name = "lbrprobe-vcpu0"
    let monitor = Monitor()
    let cpu: Int
    // Guarded by `monitor`:
    private var job: (() -> Void)?
    private var submitted: UInt64 = 0
    private var completed: UInt64 = 0
    private var stopping = false
    private var exited = false
    private var started = false
    private var pinError: Int32 = 0
    private var threadID: pid_t = 0
    private var joined = false
    private var thread = pthread_t()

    /// Starts the thread and waits until it is pinned. Throws if pinning failed (thread gone).
    init(cpu: Int) throws(LinuxError) {
        _ = installKickHandler
        self.cpu = cpu
        // SAFETY: the +1 reference travels to the thread, which takes it back (`takeRetainedValue`) exactly once;
        // if the thread is not created, it is released here instead.
        let box = Unmanaged.passRetained(self).toOpaque()
        var t = pthread_t()
        let rc = pthread_create(&t, nil, { raw in
            let me = Unmanaged<VcpuThread>.fromOpaque(raw!).takeRetainedValue()
            me.main()
            return nil
        }, box)
        if rc != 0 {
            Unmanaged<VcpuThread>.fromOpaque(box).release()
            joined = true // no thread to join
            throw LinuxError(.init(rawValue: rc), "pthread_create(vCPU thread)")
        }
        thread = t
        monitor.lock()
        while !started { monitor.wait() }
        let err = pinError
        monitor.unlock()
        if err != 0 {
            join()
            throw LinuxError(.init(rawValue: err), "pin vCPU thread to CPU \(cpu)")
        }
    }

    /// The thread holds its `VcpuThread` until its main function returns, so `deinit` only runs once the thread
    /// has exited (or was never created); one that exited without `stop()` is detached so its resources go.
    deinit { if !joined { pthread_detach(thread) } }

    /// Kernel thread id of the vCPU thread.
    var tid: pid_t { monitor.withLock { threadID } }

    private func main() {
        ThreadName.set(VcpuThread.name)
        // Pin FIRST: the vCPU is created and run only after this.
        let rc = lbr_pin_self_to_cpu(Int32(cpu))
        var block = sigset_t()
        sigemptyset(&block)
        TerminationSignals.addHandled(to: &block)
        pthread_sigmask(SIG_BLOCK, &block, nil)
        var kick = sigset_t()
        sigemptyset(&kick)
        sigaddset(&kick, vcpuKickSignal)
        pthread_sigmask(SIG_UNBLOCK, &kick, nil)
        monitor.lock()
        threadID = lbr_gettid()
        pinError = rc
        started = true
        monitor.broadcast()
        if rc != 0 { exited = true; monitor.unlock(); return }
        while true {
            while job == nil && !stopping { monitor.wait() }
            guard let work = job else { break }
            monitor.unlock()
            work()
            monitor.lock()
            job = nil
            completed += 1
            monitor.broadcast()
        }
        exited = true
        monitor.broadcast()
        monitor.unlock()
    }

    /// Queues `work` (one job at a time: waits for the previous one). Returns its ticket.
    func submit(_ work: @escaping () -> Void) -> UInt64? {
        monitor.lock(); defer { monitor.unlock() }
        while job != nil && !exited { monitor.wait() }
        if stopping || exited { return nil }
        job = work
        submitted += 1
        monitor.broadcast()
        return submitted
    }

    /// Waits until job `ticket` completed, or until `deadlineNs` (monotonic). Returns completion.
    func wait(for ticket: UInt64, deadlineNs: UInt64? = nil) -> Bool {
        monitor.lock(); defer { monitor.unlock() }
        while completed < ticket && !exited {
            if let d = deadlineNs {
                if !monitor.wait(untilNs: d) { return completed >= ticket }
            } else {
                monitor.wait()
            }
        }
        return completed >= ticket
    }

    /// Runs `body` on the vCPU thread and returns its value (blocks the caller).
    /// Returns nil when the thread is stopped.
    func perform<R>(_ body: () -> R) -> R? {
        withoutActuallyEscaping(body) { escapable in
            var out: R?
            // SAFETY: `slot` points at `out` on this stack frame; the job writes it on the vCPU thread and this
            // thread reads `out` only after `wait(for:)` saw the job complete (the monitor orders the two).
            let ticket = withUnsafeMutablePointer(to: &out) { slot -> UInt64? in
                nonisolated(unsafe) let slot = slot
                guard let t = submit({ slot.pointee = escapable() }) else { return nil }
                _ = wait(for: t)
                return t
            }
            return ticket == nil ? nil : out
        }
    }

    /// Sends the kick signal to the vCPU thread (interrupts KVM_RUN with EINTR).
    func kick() {
        monitor.lock(); defer { monitor.unlock() }
        if !exited { _ = pthread_kill(thread, vcpuKickSignal) }
    }

    /// Stops the thread after the current job and joins it. Idempotent.
    func stop() {
        monitor.lock()
        stopping = true
        monitor.broadcast()
        monitor.unlock()
        join()
    }

    private func join() {
        monitor.lock()
        if joined { monitor.unlock(); return }
        joined = true
        monitor.unlock()
        pthread_join(thread, nil)
    }
}

/// Thread names (`pthread_setname_np`), so `top -H` and `/proc/self/task/*/comm` show lbrprobe's threads.
public enum ThreadName {
    /// Names the calling thread (the kernel keeps 15 bytes). Failure only loses the name, so it is ignored.
    public static func set(_ name: String) {
        let bytes = Array(name.utf8.prefix(15)).map { CChar(bitPattern: $0) } + [0]
        _ = lbr_set_self_name(bytes)
    }

    /// The calling thread's name as the kernel has it (`/proc/thread-self/comm`).
    public static func current() -> String? {
        var buf = [CChar](repeating: 0, count: 16)
        guard lbr_get_self_name(&buf, buf.count) == 0 else { return nil }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
